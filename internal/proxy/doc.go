// Package proxy is skiff's service proxy: it turns Services and
// EndpointSlices into one nftables table, "skiff", that load-balances
// ClusterIPs, NodePorts, externalIPs and LoadBalancer ingress IPs over the
// Services' endpoints.
//
// The package has a pure core and a thin shell:
//
//   - Compute (rules.go) takes a State (Services, EndpointSlices, the node's
//     name and addresses, the cluster and service CIDRs) and returns a
//     Ruleset: a plain Go value describing the whole table. It does no I/O and
//     is covered by golden tests (testdata/*.txt, regenerate with
//     `go test ./internal/proxy -update`), whose output is Ruleset.Render, the
//     exact `nft -f` text of a full load.
//   - Proxy (proxy.go) watches Services, EndpointSlices and Nodes with
//     client-go informers and, at most once every MinSyncInterval, computes
//     the Ruleset and hands it to an Applier. Package proxy/nftables applies
//     it incrementally with knftables. When Config.Routes is set, each sync
//     also hands every Node to it (network.Router programs the host-gw
//     routes to the other nodes' podCIDRs).
//
// The table follows the structure of kube-proxy's nftables mode: base
// chains hooked at prerouting/output (DNAT) and postrouting (masquerade),
// a "services" chain dispatching through the verdict map service-ips
// (ip . protocol . port) and service-nodeports (protocol . port), one chain
// per service port ("service-..."), per external destination set
// ("external-...") and per endpoint ("endpoint-..."), random choice with
// `numgen random mod N vmap`, and a "reject-chain" reached through
// no-endpoint-services so that a Service without endpoints refuses
// connections instead of blackholing them. Traffic to the service CIDR that
// no rule translated is dropped, so it never leaves the node.
//
// NodePorts also answer on 127.0.0.1 (LocalhostNodePorts); the DNAT of
// loopback traffic to a pod needs the sysctl net.ipv4.conf.all.route_localnet=1,
// which Proxy.Run sets when that option is on, and the table drops martian
// traffic to 127.0.0.0/8 that arrives from elsewhere.
package proxy
