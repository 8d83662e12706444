// Package dns is the cluster DNS: names of Services, their endpoints and
// pods under the cluster domain, answered from an in-memory record table,
// and every other name forwarded to the host's resolvers. Cluster names are
// answered to anyone; forwarding is only for loopback and the cluster's own
// sources (every node's addresses and pod CIDRs, followed from the Nodes),
// so the server is no open resolver on the host's address: others get
// REFUSED.
//
// Records (pure, in records.go) are rebuilt from Services and EndpointSlices
// whenever they change; Server (server.go) answers UDP and TCP queries from
// the current table. Names follow the Kubernetes DNS specification:
//
//	<svc>.<ns>.svc.<domain>              A/AAAA: the ClusterIP, or every ready endpoint of a headless service
//	<hostname>.<svc>.<ns>.svc.<domain>   A/AAAA: an endpoint with a hostname (StatefulSet pods)
//	_<port>._<proto>.<svc>.<ns>.svc.<domain>  SRV for named ports
//	<svc>.<ns>.svc.<domain>              CNAME for ExternalName services
//	<a-b-c-d>.<ns>.pod.<domain>          A for a pod IP
//	<reversed>.in-addr.arpa              PTR for service and endpoint IPs
package dns
