package endpoints

import (
	"fmt"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// headlessLabel marks Endpoints of a Service without a cluster IP.
const headlessLabel = "service.kubernetes.io/headless"

func podReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// include reports whether pod belongs in a Service's Endpoints at all.
func include(p *corev1.Pod, includeTerminating bool) bool {
	if p.Status.PodIP == "" || p.DeletionTimestamp != nil && !includeTerminating {
		return false
	}
	switch p.Status.Phase {
	case corev1.PodFailed:
		return false
	case corev1.PodSucceeded:
		return false
	}
	return true
}

// findPort resolves a Service port's targetPort for pod: a number as is,
// a name through the pod's container ports of the same protocol.
func findPort(p *corev1.Pod, sp *corev1.ServicePort) (int32, bool) {
	switch sp.TargetPort.Type {
	case intstr.String:
		name := sp.TargetPort.StrVal
		for _, c := range p.Spec.Containers {
			for _, cp := range c.Ports {
				if cp.Name == name && protocolOf(cp.Protocol) == protocolOf(sp.Protocol) {
					return cp.ContainerPort, true
				}
			}
		}
		return 0, false
	default:
		if sp.TargetPort.IntVal == 0 {
			return sp.Port, true
		}
		return sp.TargetPort.IntVal, true
	}
}

func protocolOf(p corev1.Protocol) corev1.Protocol {
	if p == "" {
		return corev1.ProtocolTCP
	}
	return p
}

// desiredSubsets computes the Endpoints subsets of svc from its pods.
func desiredSubsets(svc *corev1.Service, pods []*corev1.Pod) []corev1.EndpointSubset {
	type group struct {
		ports    []corev1.EndpointPort
		ready    []corev1.EndpointAddress
		notReady []corev1.EndpointAddress
	}
	groups := map[string]*group{}
	for _, p := range pods {
		if !include(p, svc.Spec.PublishNotReadyAddresses) {
			continue
		}
		addr := corev1.EndpointAddress{
			IP:       p.Status.PodIP,
			NodeName: nonEmpty(p.Spec.NodeName),
			TargetRef: &corev1.ObjectReference{
				Kind: "Pod", Namespace: p.Namespace, Name: p.Name, UID: p.UID,
			},
		}
		if p.Spec.Hostname != "" && p.Spec.Subdomain == svc.Name && svc.Namespace == p.Namespace {
			addr.Hostname = p.Spec.Hostname
		}
		var ports []corev1.EndpointPort
		for i := range svc.Spec.Ports {
			sp := &svc.Spec.Ports[i]
			n, ok := findPort(p, sp)
			if !ok {
				continue
			}
			ports = append(ports, corev1.EndpointPort{Name: sp.Name, Port: n, Protocol: protocolOf(sp.Protocol), AppProtocol: sp.AppProtocol})
		}
		if len(svc.Spec.Ports) > 0 && len(ports) == 0 {
			continue
		}
		key := portsKey(ports)
		g := groups[key]
		if g == nil {
			g = &group{ports: ports}
			groups[key] = g
		}
		if svc.Spec.PublishNotReadyAddresses || podReady(p) {
			g.ready = append(g.ready, addr)
		} else {
			g.notReady = append(g.notReady, addr)
		}
	}
	keys := make([]string, 0, len(groups))
	for k := range groups {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var out []corev1.EndpointSubset
	for _, k := range keys {
		g := groups[k]
		sortAddrs(g.ready)
		sortAddrs(g.notReady)
		out = append(out, corev1.EndpointSubset{Addresses: g.ready, NotReadyAddresses: g.notReady, Ports: g.ports})
	}
	return out
}

func nonEmpty(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func portsKey(ports []corev1.EndpointPort) string {
	parts := make([]string, len(ports))
	for i, p := range ports {
		parts[i] = fmt.Sprintf("%s/%d/%s", p.Name, p.Port, p.Protocol)
	}
	sort.Strings(parts)
	return strings.Join(parts, ",")
}

func sortAddrs(a []corev1.EndpointAddress) {
	sort.Slice(a, func(i, j int) bool {
		if a[i].IP != a[j].IP {
			return a[i].IP < a[j].IP
		}
		return a[i].TargetRef.Name < a[j].TargetRef.Name
	})
}
