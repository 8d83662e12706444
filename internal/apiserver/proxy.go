package apiserver

import (
	"crypto/tls"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
	utilnet "k8s.io/apimachinery/pkg/util/net"
	"k8s.io/apimachinery/pkg/util/proxy"
)

// The proxy subresources (pods/proxy, services/proxy, nodes/proxy) pass
// any HTTP request through to a pod, one of a Service's endpoints, or a
// node's agent API, as upstream: the object's name may carry a scheme and
// a port ("https:web-0:8443"), the path after /proxy is the target's
// path, and links in HTML answers are rewritten to come back through the
// API server. The caller's credentials never leave the API server; toward
// nodes it authenticates with its own kubelet client certificate, toward
// pods it does not verify their serving certificates (they have none the
// cluster could check).

// proxyDialTimeout bounds connecting to a proxy target.
const proxyDialTimeout = 10 * time.Second

// serveProxy serves the proxy subresource of pods, services and nodes.
func (s *Server) serveProxy(w http.ResponseWriter, r *http.Request, res *resource, info requestInfo) {
	scheme, name, port, ok := utilnet.SplitSchemeNamePort(info.name)
	if !ok {
		s.writeError(w, r, apierrors.NewBadRequest(fmt.Sprintf("invalid request %q", info.name)))
		return
	}
	var (
		loc *url.URL
		err error
		tr  http.RoundTripper
	)
	switch res.Resource.Resource {
	case "pods":
		loc, err = s.podLocation(info.namespace, name, scheme, port)
	case "services":
		loc, err = s.serviceLocation(info.namespace, name, scheme, port)
	case "nodes":
		loc, err = s.nodeLocation(name, scheme, port)
		if err == nil && s.cfg.KubeletTLS == nil {
			err = apierrors.NewServiceUnavailable("no client credentials configured for the node agents")
		}
		if err == nil {
			tr = proxyTransport(s.cfg.KubeletTLS.Clone())
		}
	default:
		err = apierrors.NewNotFound(res.groupResource(), info.name)
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if tr == nil {
		tr = proxyTransport(&tls.Config{InsecureSkipVerify: true}) //nolint:gosec // pods' certificates cannot be checked, as upstream
	}
	loc.Path = proxyPath(r.URL.Path, info.subresource)
	out := r.Clone(r.Context())
	out.Header.Del("Authorization")
	h := proxy.NewUpgradeAwareHandler(loc, tr, true, false, proxyResponder{s})
	h.UseLocationHost = true
	h.ServeHTTP(w, out)
}

// proxyPath is the part of the request's path after /<subresource>:
// "/api/v1/namespaces/ns/pods/p/proxy/a/b/" -> "/a/b/".
func proxyPath(reqPath, subresource string) string {
	marker := "/" + subresource
	i := strings.Index(reqPath, marker+"/")
	if i < 0 {
		return ""
	}
	return reqPath[i+len(marker):]
}

// proxyTransport connects once per request: nothing would reap the idle
// connections of a transport made for one.
func proxyTransport(tlsCfg *tls.Config) http.RoundTripper {
	return &http.Transport{
		DialContext:         (&net.Dialer{Timeout: proxyDialTimeout}).DialContext,
		TLSClientConfig:     tlsCfg,
		TLSHandshakeTimeout: proxyDialTimeout,
		DisableKeepAlives:   true,
	}
}

// proxyResponder writes a proxy failure as an API error.
type proxyResponder struct{ s *Server }

func (p proxyResponder) Error(w http.ResponseWriter, r *http.Request, err error) {
	p.s.writeError(w, r, apierrors.NewServiceUnavailable(fmt.Sprintf("error trying to reach service: %v", err)))
}

// podLocation is where pods/proxy goes: the pod's IP, at the given port or
// else its first declared container port.
func (s *Server) podLocation(namespace, name, scheme, port string) (*url.URL, error) {
	obj, ok := s.Object("", "v1", "pods", namespace, name)
	pod, isPod := obj.(*corev1.Pod)
	if !ok || !isPod {
		return nil, apierrors.NewNotFound(podsGR, name)
	}
	if port == "" {
		for _, c := range pod.Spec.Containers {
			if len(c.Ports) > 0 {
				port = strconv.Itoa(int(c.Ports[0].ContainerPort))
				break
			}
		}
	}
	if port != "" {
		if n, err := strconv.Atoi(port); err != nil || n <= 0 || n > 65535 {
			return nil, apierrors.NewBadRequest(fmt.Sprintf("invalid port %q", port))
		}
	}
	ip := pod.Status.PodIP
	if ip == "" {
		return nil, apierrors.NewServiceUnavailable(fmt.Sprintf("pod %s has no IP address yet", name))
	}
	if err := proxyableIP(ip); err != nil {
		return nil, err
	}
	return &url.URL{Scheme: schemeOr(scheme, "http"), Host: joinHostPort(ip, port)}, nil
}

// serviceLocation is where services/proxy goes: a random ready endpoint
// of the Service port named (by name or number) in the request, or of its
// only port. An ExternalName Service proxies to its external name.
func (s *Server) serviceLocation(namespace, name, scheme, port string) (*url.URL, error) {
	servicesGR := schema.GroupResource{Resource: "services"}
	obj, ok := s.Object("", "v1", "services", namespace, name)
	svc, isSvc := obj.(*corev1.Service)
	if !ok || !isSvc {
		return nil, apierrors.NewNotFound(servicesGR, name)
	}
	if svc.Spec.Type == corev1.ServiceTypeExternalName {
		if port == "" {
			if len(svc.Spec.Ports) == 0 {
				return nil, apierrors.NewBadRequest(fmt.Sprintf("no port given for ExternalName service %q", name))
			}
			port = strconv.Itoa(int(svc.Spec.Ports[0].Port))
		}
		return &url.URL{Scheme: schemeOr(scheme, "http"), Host: joinHostPort(svc.Spec.ExternalName, port)}, nil
	}
	var svcPort *corev1.ServicePort
	for i := range svc.Spec.Ports {
		p := &svc.Spec.Ports[i]
		if port == "" || p.Name == port || strconv.Itoa(int(p.Port)) == port {
			svcPort = p
			break
		}
	}
	if svcPort == nil {
		return nil, apierrors.NewServiceUnavailable(fmt.Sprintf("no service port %q found for service %q", port, name))
	}
	obj, ok = s.Object("", "v1", "endpoints", namespace, name)
	eps, isEps := obj.(*corev1.Endpoints)
	if !ok || !isEps {
		return nil, apierrors.NewServiceUnavailable(fmt.Sprintf("no endpoints available for service %q", name))
	}
	var candidates []string
	for _, ss := range eps.Subsets {
		for _, p := range ss.Ports {
			if p.Name != svcPort.Name {
				continue
			}
			for _, a := range ss.Addresses {
				if proxyableIP(a.IP) == nil {
					candidates = append(candidates, joinHostPort(a.IP, strconv.Itoa(int(p.Port))))
				}
			}
		}
	}
	if len(candidates) == 0 {
		return nil, apierrors.NewServiceUnavailable(fmt.Sprintf("no endpoints available for service %q", name))
	}
	return &url.URL{Scheme: schemeOr(scheme, "http"), Host: candidates[rand.IntN(len(candidates))]}, nil
}

// nodeLocation is where nodes/proxy goes: the node's agent API, or
// another port of the node when the request names one.
func (s *Server) nodeLocation(name, scheme, port string) (*url.URL, error) {
	host, err := s.kubeletHost(name)
	if err != nil {
		return nil, err
	}
	if port != "" {
		h, _, err := net.SplitHostPort(host)
		if err != nil {
			return nil, apierrors.NewInternalError(err)
		}
		host = joinHostPort(h, port)
	}
	return &url.URL{Scheme: schemeOr(scheme, "https"), Host: host}, nil
}

// proxyableIP refuses addresses the API server must not be turned
// against: loopback and link-local ones, as upstream.
func proxyableIP(s string) error {
	ip := net.ParseIP(s)
	if ip == nil {
		return apierrors.NewBadRequest(fmt.Sprintf("%q is not a valid IP address", s))
	}
	if ip.IsLoopback() || ip.IsLinkLocalUnicast() || ip.IsLinkLocalMulticast() || ip.IsInterfaceLocalMulticast() {
		return apierrors.NewBadRequest("address not allowed")
	}
	return nil
}

func schemeOr(scheme, def string) string {
	if scheme == "" {
		return def
	}
	return scheme
}

func joinHostPort(host, port string) string {
	if port == "" {
		if strings.Contains(host, ":") {
			return "[" + host + "]"
		}
		return host
	}
	return net.JoinHostPort(host, port)
}
