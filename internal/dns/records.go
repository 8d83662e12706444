package dns

import (
	"net"
	"sort"
	"strings"

	"github.com/miekg/dns"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
)

// TTL of every answer, as CoreDNS's kubernetes plugin uses by default.
const TTL = 5

// Table holds the cluster's DNS records. It is immutable once built.
type Table struct {
	domain string // "cluster.local."
	// names maps an owner name to its records.
	names map[string][]dns.RR
	// exists marks names that exist (possibly with no records of a type),
	// including the empty non-terminals under the domain.
	exists map[string]bool
}

// Build computes the record table of services and their endpoint slices.
func Build(domain string, services []*corev1.Service, slices []*discoveryv1.EndpointSlice) *Table {
	t := &Table{domain: dns.Fqdn(strings.ToLower(domain)), names: map[string][]dns.RR{}, exists: map[string]bool{}}
	bySvc := map[string][]*discoveryv1.EndpointSlice{}
	for _, s := range slices {
		name := s.Labels[discoveryv1.LabelServiceName]
		if name == "" {
			continue
		}
		bySvc[s.Namespace+"/"+name] = append(bySvc[s.Namespace+"/"+name], s)
	}
	for _, svc := range services {
		t.addService(svc, bySvc[svc.Namespace+"/"+svc.Name])
	}
	for name := range t.names {
		t.markExists(name)
	}
	for _, rrs := range t.names {
		sort.Slice(rrs, func(i, j int) bool { return rrs[i].String() < rrs[j].String() })
	}
	return t
}

func (t *Table) markExists(name string) {
	for n := name; n != "" && n != "."; {
		t.exists[n] = true
		_, rest, ok := strings.Cut(n, ".")
		if !ok {
			break
		}
		n = rest
	}
}

func hdr(name string, typ uint16) dns.RR_Header {
	return dns.RR_Header{Name: name, Rrtype: typ, Class: dns.ClassINET, Ttl: TTL}
}

func (t *Table) add(rr dns.RR) {
	n := strings.ToLower(rr.Header().Name)
	t.names[n] = append(t.names[n], rr)
}

func addressRR(name, ip string) dns.RR {
	parsed := net.ParseIP(ip)
	if parsed == nil {
		return nil
	}
	if v4 := parsed.To4(); v4 != nil {
		return &dns.A{Hdr: hdr(name, dns.TypeA), A: v4}
	}
	return &dns.AAAA{Hdr: hdr(name, dns.TypeAAAA), AAAA: parsed}
}

// endpointHost is the DNS label of an endpoint: its hostname, or its
// address with dashes.
func endpointHost(ep discoveryv1.Endpoint, ip string) string {
	if ep.Hostname != nil && *ep.Hostname != "" {
		return *ep.Hostname
	}
	return strings.NewReplacer(".", "-", ":", "-").Replace(ip)
}

func (t *Table) addService(svc *corev1.Service, slices []*discoveryv1.EndpointSlice) {
	base := svc.Name + "." + svc.Namespace + ".svc." + t.domain
	t.exists[base] = true
	if svc.Spec.Type == corev1.ServiceTypeExternalName {
		if svc.Spec.ExternalName != "" {
			t.add(&dns.CNAME{Hdr: hdr(base, dns.TypeCNAME), Target: dns.Fqdn(svc.Spec.ExternalName)})
		}
		return
	}
	headless := svc.Spec.ClusterIP == corev1.ClusterIPNone
	if !headless {
		for _, ip := range clusterIPs(svc) {
			if rr := addressRR(base, ip); rr != nil {
				t.add(rr)
				t.addPTR(ip, base)
			}
		}
		for _, p := range svc.Spec.Ports {
			if p.Name == "" {
				continue
			}
			srv := "_" + p.Name + "._" + strings.ToLower(string(protocolOr(p.Protocol))) + "." + base
			t.add(&dns.SRV{Hdr: hdr(srv, dns.TypeSRV), Priority: 0, Weight: 100, Port: uint16(p.Port), Target: base})
		}
		return
	}
	publishNotReady := svc.Spec.PublishNotReadyAddresses
	for _, s := range slices {
		for _, ep := range s.Endpoints {
			ready := ep.Conditions.Ready == nil || *ep.Conditions.Ready
			if !ready && !publishNotReady {
				continue
			}
			for _, ip := range ep.Addresses {
				rr := addressRR(base, ip)
				if rr == nil {
					continue
				}
				t.add(rr)
				host := endpointHost(ep, ip) + "." + base
				t.add(addressRR(host, ip))
				if ep.Hostname != nil && *ep.Hostname != "" {
					t.addPTR(ip, host)
				}
				for _, p := range s.Ports {
					if p.Name == nil || *p.Name == "" || p.Port == nil {
						continue
					}
					proto := corev1.ProtocolTCP
					if p.Protocol != nil {
						proto = *p.Protocol
					}
					srv := "_" + *p.Name + "._" + strings.ToLower(string(proto)) + "." + base
					t.add(&dns.SRV{Hdr: hdr(srv, dns.TypeSRV), Priority: 0, Weight: 100, Port: uint16(*p.Port), Target: host})
				}
			}
		}
	}
}

func protocolOr(p corev1.Protocol) corev1.Protocol {
	if p == "" {
		return corev1.ProtocolTCP
	}
	return p
}

func clusterIPs(svc *corev1.Service) []string {
	if len(svc.Spec.ClusterIPs) > 0 {
		return svc.Spec.ClusterIPs
	}
	if svc.Spec.ClusterIP != "" {
		return []string{svc.Spec.ClusterIP}
	}
	return nil
}

func (t *Table) addPTR(ip, target string) {
	rev, err := dns.ReverseAddr(ip)
	if err != nil {
		return
	}
	t.add(&dns.PTR{Hdr: hdr(rev, dns.TypePTR), Ptr: target})
}

// InDomain reports whether name is under the cluster domain (and so is
// answered here, never forwarded).
func (t *Table) InDomain(name string) bool {
	return dns.IsSubDomain(t.domain, strings.ToLower(dns.Fqdn(name)))
}

// Answer answers one question from the table. ok is false for names the
// table is not authoritative for (they are forwarded).
func (t *Table) Answer(q dns.Question) (rcode int, answer []dns.RR, ok bool) {
	name := strings.ToLower(dns.Fqdn(q.Name))
	switch {
	case t.InDomain(name):
	case strings.HasSuffix(name, ".in-addr.arpa.") || strings.HasSuffix(name, ".ip6.arpa."):
		rrs := t.names[name]
		if len(rrs) == 0 {
			return 0, nil, false
		}
		return dns.RcodeSuccess, filter(rrs, q.Qtype, q.Name), true
	default:
		return 0, nil, false
	}
	if rr, isPod := t.podRecord(name, q.Qtype); isPod {
		if rr == nil {
			return dns.RcodeNameError, nil, true
		}
		return dns.RcodeSuccess, rr, true
	}
	rrs, found := t.names[name]
	if !found && !t.exists[name] {
		return dns.RcodeNameError, nil, true
	}
	// A CNAME answers every type.
	for _, rr := range rrs {
		if c, ok := rr.(*dns.CNAME); ok {
			out := dns.Copy(c)
			out.Header().Name = q.Name
			return dns.RcodeSuccess, []dns.RR{out}, true
		}
	}
	return dns.RcodeSuccess, filter(rrs, q.Qtype, q.Name), true
}

// podRecord answers <a-b-c-d>.<ns>.pod.<domain>.
func (t *Table) podRecord(name string, qtype uint16) ([]dns.RR, bool) {
	rest, ok := strings.CutSuffix(name, ".pod."+t.domain)
	if !ok {
		return nil, false
	}
	labels := strings.Split(rest, ".")
	if len(labels) != 2 {
		return nil, true
	}
	ip := net.ParseIP(strings.ReplaceAll(labels[0], "-", "."))
	if ip == nil {
		ip = net.ParseIP(strings.ReplaceAll(labels[0], "-", ":"))
	}
	if ip == nil {
		return nil, true
	}
	rr := addressRR(name, ip.String())
	if rr.Header().Rrtype != qtype && qtype != dns.TypeANY {
		return []dns.RR{}, true
	}
	return []dns.RR{rr}, true
}

// filter returns copies of the records of qtype, named as asked.
func filter(rrs []dns.RR, qtype uint16, qname string) []dns.RR {
	out := []dns.RR{}
	for _, rr := range rrs {
		if qtype == dns.TypeANY || rr.Header().Rrtype == qtype {
			c := dns.Copy(rr)
			c.Header().Name = qname
			out = append(out, c)
		}
	}
	return out
}
