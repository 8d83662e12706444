package endpointslice

import (
	"fmt"
	"net"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// MaxEndpointsPerSlice is the size at which a slice is full.
const MaxEndpointsPerSlice = 100

// Labels on managed slices.
const (
	ControllerName = "endpointslice-controller.k8s.io"
	headlessLabel  = "service.kubernetes.io/headless"
	zoneLabel      = "topology.kubernetes.io/zone"
)

// sliceSpec is the content of one desired slice.
type sliceSpec struct {
	addressType discoveryv1.AddressType
	ports       []discoveryv1.EndpointPort
	endpoints   []discoveryv1.Endpoint
}

func (s sliceSpec) key() string { return string(s.addressType) + "|" + portsKey(s.ports) }

func podReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

func protocolOf(p corev1.Protocol) corev1.Protocol {
	if p == "" {
		return corev1.ProtocolTCP
	}
	return p
}

func findPort(p *corev1.Pod, sp *corev1.ServicePort) (int32, bool) {
	if sp.TargetPort.Type == intstr.String {
		for _, c := range p.Spec.Containers {
			for _, cp := range c.Ports {
				if cp.Name == sp.TargetPort.StrVal && protocolOf(cp.Protocol) == protocolOf(sp.Protocol) {
					return cp.ContainerPort, true
				}
			}
		}
		return 0, false
	}
	if sp.TargetPort.IntVal == 0 {
		return sp.Port, true
	}
	return sp.TargetPort.IntVal, true
}

func portsKey(ports []discoveryv1.EndpointPort) string {
	parts := make([]string, len(ports))
	for i, p := range ports {
		parts[i] = fmt.Sprintf("%s/%d/%s", deref(p.Name), deref(p.Port), deref(p.Protocol))
	}
	sort.Strings(parts)
	return strings.Join(parts, ",")
}

func deref[T any](p *T) T {
	var z T
	if p == nil {
		return z
	}
	return *p
}

func ptr[T any](v T) *T { return &v }

// addressTypes returns the slice address types a Service needs.
func addressTypes(svc *corev1.Service) []discoveryv1.AddressType {
	var out []discoveryv1.AddressType
	for _, f := range svc.Spec.IPFamilies {
		if f == corev1.IPv6Protocol {
			out = append(out, discoveryv1.AddressTypeIPv6)
		} else {
			out = append(out, discoveryv1.AddressTypeIPv4)
		}
	}
	if len(out) == 0 {
		out = []discoveryv1.AddressType{discoveryv1.AddressTypeIPv4}
	}
	return out
}

func ipOfType(p *corev1.Pod, t discoveryv1.AddressType) string {
	ips := []string{p.Status.PodIP}
	for _, x := range p.Status.PodIPs {
		ips = append(ips, x.IP)
	}
	for _, ip := range ips {
		parsed := net.ParseIP(ip)
		if parsed == nil {
			continue
		}
		if (parsed.To4() != nil) == (t == discoveryv1.AddressTypeIPv4) {
			return ip
		}
	}
	return ""
}

// desiredSlices computes the slices of svc from its pods; zoneOf returns
// the zone of a node ("" if unknown).
func desiredSlices(svc *corev1.Service, pods []*corev1.Pod, zoneOf func(node string) string) []sliceSpec {
	groups := map[string]*sliceSpec{}
	for _, t := range addressTypes(svc) {
		for _, p := range pods {
			ip := ipOfType(p, t)
			if ip == "" || p.Status.Phase == corev1.PodFailed || p.Status.Phase == corev1.PodSucceeded {
				continue
			}
			terminating := p.DeletionTimestamp != nil
			ready := podReady(p)
			ep := discoveryv1.Endpoint{
				Addresses: []string{ip},
				Conditions: discoveryv1.EndpointConditions{
					Ready:       ptr(svc.Spec.PublishNotReadyAddresses || ready && !terminating),
					Serving:     ptr(svc.Spec.PublishNotReadyAddresses || ready),
					Terminating: ptr(terminating),
				},
				TargetRef: &corev1.ObjectReference{Kind: "Pod", Namespace: p.Namespace, Name: p.Name, UID: p.UID},
			}
			if p.Spec.NodeName != "" {
				ep.NodeName = ptr(p.Spec.NodeName)
				if z := zoneOf(p.Spec.NodeName); z != "" {
					ep.Zone = ptr(z)
				}
			}
			if p.Spec.Hostname != "" && p.Spec.Subdomain == svc.Name {
				ep.Hostname = ptr(p.Spec.Hostname)
			}
			var ports []discoveryv1.EndpointPort
			for i := range svc.Spec.Ports {
				sp := &svc.Spec.Ports[i]
				n, ok := findPort(p, sp)
				if !ok {
					continue
				}
				ports = append(ports, discoveryv1.EndpointPort{Name: ptr(sp.Name), Port: ptr(n), Protocol: ptr(protocolOf(sp.Protocol)), AppProtocol: sp.AppProtocol})
			}
			s := sliceSpec{addressType: t, ports: ports}
			g := groups[s.key()]
			if g == nil {
				g = &s
				groups[s.key()] = g
			}
			g.endpoints = append(g.endpoints, ep)
		}
	}
	keys := make([]string, 0, len(groups))
	for k := range groups {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var out []sliceSpec
	for _, k := range keys {
		g := groups[k]
		sort.Slice(g.endpoints, func(i, j int) bool {
			a, b := g.endpoints[i], g.endpoints[j]
			if a.Addresses[0] != b.Addresses[0] {
				return a.Addresses[0] < b.Addresses[0]
			}
			return a.TargetRef.Name < b.TargetRef.Name
		})
		for start := 0; start < len(g.endpoints); start += MaxEndpointsPerSlice {
			end := min(start+MaxEndpointsPerSlice, len(g.endpoints))
			out = append(out, sliceSpec{addressType: g.addressType, ports: g.ports, endpoints: g.endpoints[start:end]})
		}
	}
	if len(out) == 0 {
		// A placeholder tells readers the Service exists and has no endpoints.
		out = append(out, sliceSpec{addressType: addressTypes(svc)[0]})
	}
	return out
}
