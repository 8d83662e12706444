package ingress

import (
	"cmp"
	"crypto/tls"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	networkingv1 "k8s.io/api/networking/v1"
)

// State is what a routing table is built from: the cluster's Ingresses,
// IngressClasses, Services, EndpointSlices and TLS Secrets.
type State struct {
	// Controller is the spec.controller of the classes served
	// (ControllerName when empty).
	Controller     string
	Ingresses      []*networkingv1.Ingress
	Classes        []*networkingv1.IngressClass
	Services       []*corev1.Service
	EndpointSlices []*discoveryv1.EndpointSlice
	Secrets        []*corev1.Secret
	// Certs, when set, keeps parsed certificates from one Build to the
	// next, so that a change of endpoints does not parse them all again.
	Certs *CertCache
}

// CertCache holds the certificates parsed from TLS Secrets, by Secret
// and resourceVersion. Build uses it from one goroutine at a time.
type CertCache struct {
	m map[string]cachedCert
}

type cachedCert struct {
	version string
	cert    *tls.Certificate
	err     error
}

// NewCertCache returns an empty cache.
func NewCertCache() *CertCache { return &CertCache{m: map[string]cachedCert{}} }

// parse returns sec's certificate, parsed once per resourceVersion.
func (c *CertCache) parse(sec *corev1.Secret) (*tls.Certificate, error) {
	key := sec.Namespace + "/" + sec.Name
	if c != nil {
		if e, ok := c.m[key]; ok && e.version == sec.ResourceVersion && sec.ResourceVersion != "" {
			return e.cert, e.err
		}
	}
	cert, err := tls.X509KeyPair(sec.Data[corev1.TLSCertKey], sec.Data[corev1.TLSPrivateKeyKey])
	e := cachedCert{version: sec.ResourceVersion, cert: &cert, err: err}
	if err != nil {
		e.cert = nil
	}
	if c != nil {
		c.m[key] = e
	}
	return e.cert, e.err
}

// prune forgets the Secrets not in keep.
func (c *CertCache) prune(keep map[string]*corev1.Secret) {
	if c == nil {
		return
	}
	for k := range c.m {
		if keep[k] == nil {
			delete(c.m, k)
		}
	}
}

// Backend is where a matched request goes: the ready endpoints of a
// Service port, chosen in turn.
type Backend struct {
	// Name is namespace/service:port, for logs and errors.
	Name string
	// Addrs are the endpoints, host:port, sorted.
	Addrs []string
	next  atomic.Uint32
}

// Pick returns the next endpoint in round robin order, or "" when the
// backend has none.
func (b *Backend) Pick() string {
	if b == nil || len(b.Addrs) == 0 {
		return ""
	}
	return b.Addrs[int(b.next.Add(1)-1)%len(b.Addrs)]
}

// route is one path of one host.
type route struct {
	path    string
	exact   bool
	backend *Backend
	// order ranks the Ingress it came from (older first), so that the
	// first of two Ingresses naming the same path keeps it.
	order int
}

// Table is an immutable routing table. Its Backends' round robin
// counters are the only state that changes.
type Table struct {
	// hosts holds the routes of each exact host, wildcards keyed by
	// their "*.suffix" and rules with no host under "".
	hosts map[string][]route
	// dflt is the default backend, nil when no Ingress has one.
	dflt *Backend
	// certs by TLS host (exact or "*.suffix").
	certs map[string]*tls.Certificate
}

// Route returns the backend for a request to host (no port) and path:
// the routes of the exact host first, then of its wildcard, then those
// with no host; within them the longest matching path, Exact before
// Prefix at the same length. It falls back to the default backend; ok is
// false when there is none.
func (t *Table) Route(host, path string) (b *Backend, ok bool) {
	host = strings.ToLower(strings.TrimSuffix(host, "."))
	for _, key := range [...]string{host, wildcardOf(host), ""} {
		if key == "*" {
			continue
		}
		if r := match(t.hosts[key], path); r != nil {
			return r.backend, true
		}
	}
	return t.dflt, t.dflt != nil
}

// Certificate returns the certificate for an SNI server name: the exact
// host's, else its wildcard's; nil when neither has one.
func (t *Table) Certificate(serverName string) *tls.Certificate {
	serverName = strings.ToLower(strings.TrimSuffix(serverName, "."))
	if c := t.certs[serverName]; c != nil {
		return c
	}
	return t.certs[wildcardOf(serverName)]
}

// wildcardOf is the wildcard host that covers host ("*.foo.com" for
// "bar.foo.com"): a wildcard stands for exactly one DNS label.
func wildcardOf(host string) string {
	_, rest, ok := strings.Cut(host, ".")
	if !ok || rest == "" {
		return "*"
	}
	return "*." + rest
}

// match returns the route among rs (sorted by sortRoutes) that path
// matches first, or nil.
func match(rs []route, path string) *route {
	for i := range rs {
		r := &rs[i]
		if r.exact {
			if path == r.path {
				return r
			}
		} else if prefixMatch(r.path, path) {
			return r
		}
	}
	return nil
}

// prefixMatch reports whether path is matched by a Prefix rule: the
// rule's path elements (split by "/", a trailing "/" ignored) are the
// first elements of path's. "/foo" matches "/foo", "/foo/" and
// "/foo/bar", not "/foobar".
func prefixMatch(prefix, path string) bool {
	prefix = strings.TrimRight(prefix, "/")
	if prefix == "" {
		return true
	}
	if !strings.HasPrefix(path, prefix) {
		return false
	}
	return len(path) == len(prefix) || path[len(prefix)] == '/'
}

// Build computes the routing table of the Ingresses the controller
// serves.
func Build(s State) *Table {
	t := &Table{hosts: map[string][]route{}, certs: map[string]*tls.Certificate{}}
	classes := SelectClasses(cmp.Or(s.Controller, ControllerName), s.Classes)
	var ings []*networkingv1.Ingress
	for _, ing := range s.Ingresses {
		if ing.DeletionTimestamp == nil && classes.Serves(ing) {
			ings = append(ings, ing)
		}
	}
	// Older Ingresses win conflicts, as they were there first.
	slices.SortFunc(ings, func(a, b *networkingv1.Ingress) int {
		if c := a.CreationTimestamp.Compare(b.CreationTimestamp.Time); c != 0 {
			return c
		}
		return cmp.Compare(a.Namespace+"/"+a.Name, b.Namespace+"/"+b.Name)
	})
	r := resolver{services: map[string]*corev1.Service{}, slices: map[string][]*discoveryv1.EndpointSlice{},
		backends: map[string]*Backend{}}
	for _, svc := range s.Services {
		r.services[svc.Namespace+"/"+svc.Name] = svc
	}
	for _, es := range s.EndpointSlices {
		if name := es.Labels[discoveryv1.LabelServiceName]; name != "" {
			k := es.Namespace + "/" + name
			r.slices[k] = append(r.slices[k], es)
		}
	}
	secrets := map[string]*corev1.Secret{}
	for _, sec := range s.Secrets {
		secrets[sec.Namespace+"/"+sec.Name] = sec
	}
	for order, ing := range ings {
		if db := ing.Spec.DefaultBackend; db != nil && t.dflt == nil {
			t.dflt = r.backend(ing.Namespace, db)
		}
		for _, rule := range ing.Spec.Rules {
			if rule.HTTP == nil {
				continue
			}
			host := strings.ToLower(rule.Host)
			for _, p := range rule.HTTP.Paths {
				path := cmp.Or(p.Path, "/")
				exact := p.PathType != nil && *p.PathType == networkingv1.PathTypeExact
				if !exact {
					path = cmp.Or(strings.TrimRight(path, "/"), "/")
				}
				rt := route{path: path, exact: exact, backend: r.backend(ing.Namespace, &p.Backend), order: order}
				if slices.ContainsFunc(t.hosts[host], func(o route) bool { return o.path == rt.path && o.exact == rt.exact }) {
					continue // an older Ingress has it
				}
				t.hosts[host] = append(t.hosts[host], rt)
			}
		}
		for _, tl := range ing.Spec.TLS {
			sec := secrets[ing.Namespace+"/"+tl.SecretName]
			if sec == nil || tl.SecretName == "" {
				continue
			}
			cert, err := s.Certs.parse(sec)
			if err != nil {
				continue
			}
			for _, h := range tl.Hosts {
				h = strings.ToLower(h)
				if _, taken := t.certs[h]; !taken {
					t.certs[h] = cert
				}
			}
		}
	}
	s.Certs.prune(secrets)
	for _, rs := range t.hosts {
		sortRoutes(rs)
	}
	return t
}

// sortRoutes orders routes as they are tried: longer paths first, Exact
// before Prefix at the same length.
func sortRoutes(rs []route) {
	slices.SortStableFunc(rs, func(a, b route) int {
		if c := cmp.Compare(len(b.path), len(a.path)); c != 0 {
			return c
		}
		if a.exact != b.exact {
			if a.exact {
				return -1
			}
			return 1
		}
		return cmp.Compare(a.order, b.order)
	})
}

// resolver turns Ingress backends into endpoint lists, sharing one
// Backend (and so one round robin) per Service port.
type resolver struct {
	services map[string]*corev1.Service
	slices   map[string][]*discoveryv1.EndpointSlice
	backends map[string]*Backend
}

func (r *resolver) backend(ns string, ib *networkingv1.IngressBackend) *Backend {
	if ib.Service == nil {
		// Resource backends name objects of another controller: no
		// endpoints here.
		return &Backend{Name: ns + "/<resource>"}
	}
	port := ib.Service.Port.Name
	if port == "" {
		port = strconv.Itoa(int(ib.Service.Port.Number))
	}
	key := ns + "/" + ib.Service.Name + ":" + port
	if b, ok := r.backends[key]; ok {
		return b
	}
	b := &Backend{Name: key, Addrs: r.endpoints(ns, ib.Service)}
	r.backends[key] = b
	return b
}

// endpoints are the ready endpoints of a Service port: the addresses
// and port its EndpointSlices list for the Service port's name; for an
// ExternalName Service, its name and the port.
func (r *resolver) endpoints(ns string, sb *networkingv1.IngressServiceBackend) []string {
	svc := r.services[ns+"/"+sb.Name]
	if svc == nil {
		return nil
	}
	var sp *corev1.ServicePort
	for i, p := range svc.Spec.Ports {
		if sb.Port.Name != "" && p.Name == sb.Port.Name || sb.Port.Name == "" && p.Port == sb.Port.Number {
			sp = &svc.Spec.Ports[i]
			break
		}
	}
	if sp == nil || sp.Protocol != "" && sp.Protocol != corev1.ProtocolTCP {
		return nil
	}
	if svc.Spec.Type == corev1.ServiceTypeExternalName {
		return []string{net.JoinHostPort(svc.Spec.ExternalName, strconv.Itoa(int(sp.Port)))}
	}
	var out []string
	for _, es := range r.slices[ns+"/"+sb.Name] {
		if es.AddressType == discoveryv1.AddressTypeFQDN {
			continue
		}
		var port int32
		found := false
		for _, p := range es.Ports {
			if p.Port != nil && (p.Name == nil && sp.Name == "" || p.Name != nil && *p.Name == sp.Name) &&
				(p.Protocol == nil || *p.Protocol == corev1.ProtocolTCP) {
				port, found = *p.Port, true
				break
			}
		}
		if !found {
			continue
		}
		for _, ep := range es.Endpoints {
			if ep.Conditions.Ready != nil && !*ep.Conditions.Ready {
				continue
			}
			for _, a := range ep.Addresses {
				out = append(out, net.JoinHostPort(a, strconv.Itoa(int(port))))
			}
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}
