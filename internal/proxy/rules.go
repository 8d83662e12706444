package proxy

import (
	"crypto/sha256"
	"encoding/base32"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	v1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
)

// TableName is the one nftables table the proxy owns.
const TableName = "skiff"

// Names of the fixed chains, sets and maps of the table.
const (
	chainServices          = "services"
	chainMarkForMasquerade = "mark-for-masquerade"
	chainMasquerading      = "masquerading"
	chainReject            = "reject-chain"
	chainServiceEPCheck    = "service-endpoints-check"
	chainNodePortEPCheck   = "nodeport-endpoints-check"
	chainClusterIPsCheck   = "cluster-ips-check"

	setClusterIPs   = "cluster-ips"
	setNodePortIPs  = "nodeport-ips"
	mapServiceIPs   = "service-ips"
	mapServiceNPs   = "service-nodeports"
	mapNoEPServices = "no-endpoint-services"
	mapNoEPNodePort = "no-endpoint-nodeports"

	// masqueradeMark marks packets that the masquerading chain must SNAT;
	// the same bit kube-proxy uses.
	masqueradeMark = "0x00004000"
)

// defaultAffinityTimeout is what a ClientIP Service gets without an
// explicit timeout (3 hours, the API default).
const defaultAffinityTimeout = 10800 * time.Second

// State is everything Compute needs.
type State struct {
	// NodeName is this node; endpoints with the same nodeName are local.
	NodeName string
	// NodeIPs are this node's IPv4 addresses; NodePorts answer on them
	// unless NodePortAddresses is set.
	NodeIPs []netip.Addr
	// ClusterCIDR is the pod network of the whole cluster: traffic inside it
	// is never masqueraded, traffic from it to elsewhere is.
	ClusterCIDR netip.Prefix
	// ServiceCIDR is the ClusterIP range: traffic to it that no rule
	// translated is dropped.
	ServiceCIDR netip.Prefix
	// NodePortAddresses, when set, are the only destinations NodePorts
	// answer on (instead of NodeIPs).
	NodePortAddresses []netip.Prefix
	// LocalhostNodePorts makes NodePorts answer on 127.0.0.1 too.
	LocalhostNodePorts bool
	Services           []*v1.Service
	EndpointSlices     []*discoveryv1.EndpointSlice
}

// NodeIPs returns the IPv4 addresses of a Node that NodePorts answer on:
// its InternalIPs and ExternalIPs.
func NodeIPs(node *v1.Node) []netip.Addr {
	var out []netip.Addr
	for _, a := range node.Status.Addresses {
		if a.Type != v1.NodeInternalIP && a.Type != v1.NodeExternalIP {
			continue
		}
		if ip, err := netip.ParseAddr(a.Address); err == nil && ip.Is4() && !slices.Contains(out, ip) {
			out = append(out, ip)
		}
	}
	return out
}

// endpoint is one usable backend of one service port.
type endpoint struct {
	addr  netip.Addr
	ip    string
	port  int32
	local bool
	// ready or, failing that, serving while terminating.
	ready, servingTerminating bool
}

// portInfo is one port of one Service, everything Compute derives from it.
type portInfo struct {
	svc      *v1.Service
	port     v1.ServicePort
	proto    string // tcp, udp or sctp
	name     string // ns/name/proto/portname
	affinity time.Duration
}

// Compute returns the table that implements s. It is a pure function.
func Compute(s State) Ruleset {
	b := &builder{
		s:      s,
		chains: map[string]*Chain{},
		maps:   map[string]*Map{},
		sets:   map[string]*Set{},
	}
	b.base()
	byService := indexSlices(s.EndpointSlices)
	// In name order, so that when two Services claim the same externalIP
	// and port the older name wins every time.
	svcs := slices.Clone(s.Services)
	slices.SortFunc(svcs, func(a, b *v1.Service) int {
		return strings.Compare(a.Namespace+"/"+a.Name, b.Namespace+"/"+b.Name)
	})
	for _, svc := range svcs {
		b.service(svc, byService[svc.Namespace+"/"+svc.Name])
	}
	return b.ruleset()
}

type builder struct {
	s      State
	chains map[string]*Chain
	sets   map[string]*Set
	maps   map[string]*Map
}

func (b *builder) chain(name string, rules ...string) *Chain {
	c := &Chain{Name: name, Rules: rules}
	b.chains[name] = c
	return c
}

func (b *builder) base() {
	cluster, svcCIDR := b.s.ClusterCIDR.String(), b.s.ServiceCIDR.String()
	baseChain := func(name, typ, hook string, prio int, rules ...string) {
		c := b.chain(name, rules...)
		c.Type, c.Hook, c.Priority = typ, hook, prio
	}
	// Filter chains run just before DNAT (-110) to refuse connections to
	// Services without endpoints, and just after (-90, and forward) to stop
	// service-CIDR traffic nothing translated.
	baseChain("filter-input", "filter", "input", -110,
		"ct state new jump "+chainNodePortEPCheck,
		"ct state new jump "+chainServiceEPCheck,
		// route_localnet lets 127.0.0.0/8 be routed; refuse such packets
		// from other hosts unless we DNATed them.
		`iifname != "lo" ip daddr 127.0.0.0/8 ct status ! dnat drop`)
	baseChain("filter-forward", "filter", "forward", -110,
		"ct state new jump "+chainServiceEPCheck,
		"ct state new jump "+chainClusterIPsCheck)
	baseChain("filter-output", "filter", "output", -110,
		"ct state new jump "+chainServiceEPCheck)
	baseChain("filter-output-post-dnat", "filter", "output", -90,
		"ct state new jump "+chainClusterIPsCheck)
	baseChain("nat-prerouting", "nat", "prerouting", -100, "jump "+chainServices)
	baseChain("nat-output", "nat", "output", -100, "jump "+chainServices)
	baseChain("nat-postrouting", "nat", "postrouting", 100,
		"jump "+chainMasquerading,
		// Pods reach the outside world as the node; pod-to-pod traffic,
		// across nodes too, keeps its source address.
		fmt.Sprintf("ip saddr %s ip daddr != %s masquerade", cluster, cluster))

	b.chain(chainServices,
		"ip daddr . meta l4proto . th dport vmap @"+mapServiceIPs,
		"ip daddr @"+setNodePortIPs+" meta l4proto . th dport vmap @"+mapServiceNPs)
	b.chain(chainMarkForMasquerade, "meta mark set meta mark | "+masqueradeMark)
	b.chain(chainMasquerading,
		"meta mark & "+masqueradeMark+" == 0 return",
		"meta mark set meta mark ^ "+masqueradeMark,
		"masquerade fully-random")
	b.chain(chainReject, "reject")
	b.chain(chainServiceEPCheck, "ip daddr . meta l4proto . th dport vmap @"+mapNoEPServices)
	b.chain(chainNodePortEPCheck, "ip daddr @"+setNodePortIPs+" meta l4proto . th dport vmap @"+mapNoEPNodePort)
	b.chain(chainClusterIPsCheck,
		`ip daddr @`+setClusterIPs+` reject comment "no such port on this ClusterIP"`,
		`ip daddr `+svcCIDR+` drop comment "no Service has this ClusterIP"`)

	b.sets[setClusterIPs] = &Set{Name: setClusterIPs, Type: "ipv4_addr"}
	np := &Set{Name: setNodePortIPs, Type: "ipv4_addr", Flags: []string{"interval"}}
	if len(b.s.NodePortAddresses) > 0 {
		for _, p := range b.s.NodePortAddresses {
			if p.Addr().Is4() {
				np.Elements = append(np.Elements, p.Masked().String())
			}
		}
	} else {
		for _, ip := range b.s.NodeIPs {
			if ip.Is4() {
				np.Elements = append(np.Elements, ip.String())
			}
		}
	}
	if b.s.LocalhostNodePorts && !slices.ContainsFunc(b.s.NodePortAddresses, func(p netip.Prefix) bool {
		return p.Contains(netip.MustParseAddr("127.0.0.1"))
	}) {
		np.Elements = append(np.Elements, "127.0.0.1")
	}
	b.sets[setNodePortIPs] = np
	ipKey := "ipv4_addr . inet_proto . inet_service : verdict"
	portKey := "inet_proto . inet_service : verdict"
	b.maps[mapServiceIPs] = &Map{Name: mapServiceIPs, Type: ipKey}
	b.maps[mapServiceNPs] = &Map{Name: mapServiceNPs, Type: portKey}
	b.maps[mapNoEPServices] = &Map{Name: mapNoEPServices, Type: ipKey}
	b.maps[mapNoEPNodePort] = &Map{Name: mapNoEPNodePort, Type: portKey}
}

// indexSlices groups EndpointSlices by the Service they belong to.
func indexSlices(all []*discoveryv1.EndpointSlice) map[string][]*discoveryv1.EndpointSlice {
	out := map[string][]*discoveryv1.EndpointSlice{}
	for _, es := range all {
		svc := es.Labels[discoveryv1.LabelServiceName]
		if svc == "" || es.AddressType != discoveryv1.AddressTypeIPv4 {
			continue
		}
		k := es.Namespace + "/" + svc
		out[k] = append(out[k], es)
	}
	return out
}

// endpointsFor resolves a service port against the slices: the slice port
// with the same name and protocol gives the target port, which may differ
// from slice to slice (a named targetPort resolves per pod).
func (b *builder) endpointsFor(sp v1.ServicePort, eslices []*discoveryv1.EndpointSlice) []endpoint {
	seen := map[string]bool{}
	var out []endpoint
	for _, es := range eslices {
		var port int32 = -1
		for _, p := range es.Ports {
			name, proto := "", v1.ProtocolTCP
			if p.Name != nil {
				name = *p.Name
			}
			if p.Protocol != nil {
				proto = *p.Protocol
			}
			if name == sp.Name && proto == sp.Protocol && p.Port != nil {
				port = *p.Port
				break
			}
		}
		if port <= 0 {
			continue
		}
		for _, ep := range es.Endpoints {
			if len(ep.Addresses) == 0 {
				continue
			}
			ip, err := netip.ParseAddr(ep.Addresses[0])
			if err != nil || !ip.Is4() {
				continue
			}
			key := ip.String() + ":" + strconv.Itoa(int(port))
			if seen[key] {
				continue
			}
			seen[key] = true
			c := ep.Conditions
			// Unset ready and serving mean true; unset terminating false.
			ready := c.Ready == nil || *c.Ready
			serving := c.Serving == nil || *c.Serving
			terminating := c.Terminating != nil && *c.Terminating
			out = append(out, endpoint{
				addr: ip, ip: ip.String(), port: port,
				local:              ep.NodeName != nil && *ep.NodeName == b.s.NodeName,
				ready:              ready && !terminating,
				servingTerminating: serving && terminating,
			})
		}
	}
	slices.SortFunc(out, func(a, b endpoint) int {
		if c := a.addr.Compare(b.addr); c != 0 {
			return c
		}
		return int(a.port) - int(b.port)
	})
	return out
}

// usable picks the endpoints traffic goes to: the ready ones, or if there
// are none the serving terminating ones, so a rolling update with a last
// terminating pod keeps serving. With localOnly only this node's count.
func usable(eps []endpoint, localOnly bool) []endpoint {
	var ready, term []endpoint
	for _, ep := range eps {
		if localOnly && !ep.local {
			continue
		}
		if ep.ready {
			ready = append(ready, ep)
		} else if ep.servingTerminating {
			term = append(term, ep)
		}
	}
	if len(ready) > 0 {
		return ready
	}
	return term
}

func (b *builder) service(svc *v1.Service, eslices []*discoveryv1.EndpointSlice) {
	switch {
	case svc.Spec.Type == v1.ServiceTypeExternalName:
		return
	case svc.Spec.ClusterIP == "" || svc.Spec.ClusterIP == v1.ClusterIPNone:
		return
	}
	clusterIP, err := netip.ParseAddr(svc.Spec.ClusterIP)
	if err != nil || !clusterIP.Is4() {
		return
	}
	b.sets[setClusterIPs].Elements = append(b.sets[setClusterIPs].Elements, clusterIP.String())

	var externals []string
	for _, ip := range svc.Spec.ExternalIPs {
		if a, err := netip.ParseAddr(ip); err == nil && a.Is4() {
			externals = append(externals, a.String())
		}
	}
	if svc.Spec.Type == v1.ServiceTypeLoadBalancer {
		for _, ing := range svc.Status.LoadBalancer.Ingress {
			if a, err := netip.ParseAddr(ing.IP); err == nil && a.Is4() {
				externals = append(externals, a.String())
			}
		}
	}
	var affinity time.Duration
	if svc.Spec.SessionAffinity == v1.ServiceAffinityClientIP {
		affinity = defaultAffinityTimeout
		if c := svc.Spec.SessionAffinityConfig; c != nil && c.ClientIP != nil && c.ClientIP.TimeoutSeconds != nil {
			affinity = time.Duration(*c.ClientIP.TimeoutSeconds) * time.Second
		}
	}
	iLocal := svc.Spec.InternalTrafficPolicy != nil && *svc.Spec.InternalTrafficPolicy == v1.ServiceInternalTrafficPolicyLocal
	eLocal := svc.Spec.ExternalTrafficPolicy == v1.ServiceExternalTrafficPolicyLocal
	hasNodePorts := svc.Spec.Type == v1.ServiceTypeNodePort || svc.Spec.Type == v1.ServiceTypeLoadBalancer

	for _, sp := range svc.Spec.Ports {
		proto := strings.ToLower(string(sp.Protocol))
		if proto == "" {
			proto = "tcp"
		}
		pi := portInfo{
			svc: svc, port: sp, proto: proto, affinity: affinity,
			name: fmt.Sprintf("%s/%s/%s/%s", svc.Namespace, svc.Name, proto, sp.Name),
		}
		eps := b.endpointsFor(sp, eslices)
		all := usable(eps, false)
		internal := all
		if iLocal {
			internal = usable(eps, true)
		}
		nodePort := hasNodePorts && sp.NodePort > 0
		clusterKey := fmt.Sprintf("%s . %s . %d", clusterIP, proto, sp.Port)

		if len(all) == 0 {
			// Refuse rather than blackhole: the client sees "connection
			// refused" at once.
			reject := "goto " + chainReject
			b.mapAdd(mapNoEPServices, clusterKey, reject)
			for _, ip := range externals {
				b.mapAdd(mapNoEPServices, fmt.Sprintf("%s . %s . %d", ip, proto, sp.Port), reject)
			}
			if nodePort {
				b.mapAdd(mapNoEPNodePort, fmt.Sprintf("%s . %d", proto, sp.NodePort), reject)
			}
			continue
		}

		svcChain := chainName("service", pi.name)
		allTarget := svcChain // where traffic for every endpoint goes
		if len(internal) > 0 {
			rules := []string{fmt.Sprintf("ip daddr %s %s dport %d ip saddr != %s jump %s",
				clusterIP, proto, sp.Port, b.s.ClusterCIDR, chainMarkForMasquerade)}
			rules = append(rules, b.balance(pi, internal)...)
			b.chain(svcChain, rules...)
			b.mapAdd(mapServiceIPs, clusterKey, "goto "+svcChain)
		} else {
			// internalTrafficPolicy Local without local endpoints: drop, as
			// the Service promises never to leave the node.
			b.mapAdd(mapServiceIPs, clusterKey, "drop")
		}
		if len(externals) == 0 && !nodePort {
			continue
		}
		if iLocal {
			allTarget = chainName("cluster", pi.name)
			b.chain(allTarget, b.balance(pi, all)...)
		}
		ext := chainName("external", pi.name)
		var rules []string
		if !eLocal {
			rules = []string{"jump " + chainMarkForMasquerade, "goto " + allTarget}
		} else {
			// Keep the client's address for traffic from elsewhere and send
			// it only to local endpoints; pods and this host may use any.
			rules = []string{
				fmt.Sprintf("ip saddr %s goto %s", b.s.ClusterCIDR, allTarget),
				"fib saddr type local jump " + chainMarkForMasquerade,
				"fib saddr type local goto " + allTarget,
			}
			if local := usable(eps, true); len(local) > 0 {
				rules = append(rules, b.balance(pi, local)...)
			} else {
				rules = append(rules, `drop comment "no local endpoints"`)
			}
		}
		b.chain(ext, rules...)
		for _, ip := range externals {
			b.mapAdd(mapServiceIPs, fmt.Sprintf("%s . %s . %d", ip, proto, sp.Port), "goto "+ext)
		}
		if nodePort {
			b.mapAdd(mapServiceNPs, fmt.Sprintf("%s . %d", proto, sp.NodePort), "goto "+ext)
		}
	}
}

// balance returns the rules that pick one of eps at random (or the one a
// client is stuck to) and creates the endpoints' chains.
func (b *builder) balance(pi portInfo, eps []endpoint) []string {
	var rules, targets []string
	for _, ep := range eps {
		epName := fmt.Sprintf("%s__%s/%d", pi.name, ep.ip, ep.port)
		epChain := chainName("endpoint", epName)
		c := b.chain(epChain, fmt.Sprintf("ip saddr %s jump %s", ep.ip, chainMarkForMasquerade))
		if pi.affinity > 0 {
			// The timeout is part of the set's identity, so a changed
			// timeout makes a new set instead of redefining a live one.
			set := hashedName("affinity", fmt.Sprintf("%s@%d", epName, int(pi.affinity/time.Second)), epName)
			b.sets[set] = &Set{Name: set, Type: "ipv4_addr", Flags: []string{"dynamic", "timeout"}, Timeout: pi.affinity}
			c.Rules = append(c.Rules, fmt.Sprintf("update @%s { ip saddr }", set))
			rules = append(rules, fmt.Sprintf("ip saddr @%s goto %s", set, epChain))
		}
		c.Rules = append(c.Rules, fmt.Sprintf("meta l4proto %s dnat to %s:%d", pi.proto, ep.ip, ep.port))
		targets = append(targets, epChain)
	}
	if len(targets) == 1 {
		return append(rules, "goto "+targets[0])
	}
	var vm []string
	for i, t := range targets {
		vm = append(vm, fmt.Sprintf("%d : goto %s", i, t))
	}
	return append(rules, fmt.Sprintf("numgen random mod %d vmap { %s }", len(targets), strings.Join(vm, " , ")))
}

func (b *builder) mapAdd(m, key, value string) {
	b.maps[m].Elements = append(b.maps[m].Elements, MapElement{Key: key, Value: value})
}

// chainName makes a name that is unique (the hash) and readable (the
// suffix), as kube-proxy names its per-service chains.
func chainName(prefix, name string) string {
	return hashedName(prefix, name, name)
}

// hashedName is prefix-HASH(id)-suffix.
func hashedName(prefix, id, suffix string) string {
	sum := sha256.Sum256([]byte(prefix + id))
	h := base32.StdEncoding.EncodeToString(sum[:])[:8]
	return prefix + "-" + h + "-" + suffix
}

func (b *builder) ruleset() Ruleset {
	r := Ruleset{Family: "ip", Table: TableName}
	for _, c := range b.chains {
		r.Chains = append(r.Chains, *c)
	}
	for _, s := range b.sets {
		ss := *s
		slices.Sort(ss.Elements)
		ss.Elements = slices.Compact(ss.Elements)
		r.Sets = append(r.Sets, ss)
	}
	for _, m := range b.maps {
		mm := *m
		slices.SortStableFunc(mm.Elements, func(a, b MapElement) int { return strings.Compare(a.Key, b.Key) })
		mm.Elements = slices.CompactFunc(mm.Elements, func(a, b MapElement) bool { return a.Key == b.Key })
		r.Maps = append(r.Maps, mm)
	}
	slices.SortFunc(r.Chains, func(a, b Chain) int { return strings.Compare(a.Name, b.Name) })
	slices.SortFunc(r.Sets, func(a, b Set) int { return strings.Compare(a.Name, b.Name) })
	slices.SortFunc(r.Maps, func(a, b Map) int { return strings.Compare(a.Name, b.Name) })
	return r
}
