package pki

import (
	"net"
	"os"
	"strings"
)

// SANs are the subject alternative names a serving certificate must cover.
type SANs struct {
	// DNSNames are host names; compared without regard to case.
	DNSNames []string
	// IPs are addresses, IPv4 or IPv6.
	IPs []net.IP
}

// Merge returns the union of s and other, without duplicates, in the order
// first seen.
func (s SANs) Merge(other SANs) SANs {
	var out SANs
	seenDNS := map[string]bool{}
	seenIP := map[string]bool{}
	for _, list := range [][]string{s.DNSNames, other.DNSNames} {
		for _, name := range list {
			name = strings.ToLower(strings.TrimSpace(name))
			if name == "" || seenDNS[name] {
				continue
			}
			seenDNS[name] = true
			out.DNSNames = append(out.DNSNames, name)
		}
	}
	for _, list := range [][]net.IP{s.IPs, other.IPs} {
		for _, ip := range list {
			if ip == nil {
				continue
			}
			if v4 := ip.To4(); v4 != nil {
				ip = v4
			}
			if seenIP[ip.String()] {
				continue
			}
			seenIP[ip.String()] = true
			out.IPs = append(out.IPs, ip)
		}
	}
	return out
}

// ParseSANs sorts --tls-san style values into IP addresses and DNS names.
// Empty values are dropped.
func ParseSANs(values []string) SANs {
	var out SANs
	for _, v := range values {
		v = strings.TrimSpace(v)
		if v == "" {
			continue
		}
		if ip := net.ParseIP(v); ip != nil {
			out.IPs = append(out.IPs, ip)
		} else {
			out.DNSNames = append(out.DNSNames, v)
		}
	}
	return out.Merge(SANs{})
}

// DefaultAPIServerSANs returns the names every API server certificate
// carries: localhost, the in-cluster names of the kubernetes Service under
// clusterDomain (cluster.local when empty), the loopback addresses, and
// serviceIP, the first address of the service CIDR that the kubernetes
// Service gets. Add HostSANs and the --tls-san values with Merge.
func DefaultAPIServerSANs(serviceIP net.IP, clusterDomain string) SANs {
	if clusterDomain == "" {
		clusterDomain = "cluster.local"
	}
	sans := SANs{
		DNSNames: []string{
			"localhost",
			"kubernetes",
			"kubernetes.default",
			"kubernetes.default.svc",
			"kubernetes.default.svc." + strings.TrimSuffix(clusterDomain, "."),
		},
		IPs: []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
	}
	if serviceIP != nil {
		sans.IPs = append(sans.IPs, serviceIP)
	}
	return sans.Merge(SANs{})
}

// HostSANs returns this host's name and the addresses of its interfaces,
// except loopback (DefaultAPIServerSANs has those) and link-local ones
// (fe80::/10 and 169.254.0.0/16 are only reachable with a zone or on one
// link, so no client dials the API server there). A host whose name or
// interfaces cannot be read gets fewer names rather than an error: the
// certificate still works through the other names and --tls-san.
func HostSANs() SANs {
	var sans SANs
	if name, err := os.Hostname(); err == nil {
		sans.DNSNames = append(sans.DNSNames, name)
	}
	addrs, err := net.InterfaceAddrs()
	if err == nil {
		sans.IPs = hostIPs(addrs)
	}
	return sans.Merge(SANs{})
}

// hostIPs keeps the addresses a remote client could use to reach this host.
func hostIPs(addrs []net.Addr) []net.IP {
	var ips []net.IP
	for _, a := range addrs {
		var ip net.IP
		switch v := a.(type) {
		case *net.IPNet:
			ip = v.IP
		case *net.IPAddr:
			ip = v.IP
		default:
			continue
		}
		if ip.IsLoopback() || ip.IsLinkLocalUnicast() || ip.IsUnspecified() || ip.IsMulticast() {
			continue
		}
		ips = append(ips, ip)
	}
	return ips
}
