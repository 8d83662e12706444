package servicelb

import (
	"net/netip"
	"slices"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"

	"skiff/internal/lbnodes"
)

// Manages reports whether this controller owns svc's load balancer
// status: it does for every Service without a spec.loadBalancerClass,
// which belongs to another implementation.
func Manages(svc *corev1.Service) bool { return svc.Spec.LoadBalancerClass == nil }

// WantsLoadBalancer reports whether svc should get node addresses as its
// load balancer ingress.
func WantsLoadBalancer(svc *corev1.Service) bool {
	return svc.Spec.Type == corev1.ServiceTypeLoadBalancer && Manages(svc)
}

// Desired returns the ingress points svc should carry given the cluster's
// nodes: for a Service that wants a load balancer, one VIP entry per
// address of every eligible node, sorted and deduplicated; for one that
// does not, none (the status of a former LoadBalancer is cleared).
func Desired(svc *corev1.Service, nodes []*corev1.Node) []corev1.LoadBalancerIngress {
	if !WantsLoadBalancer(svc) {
		return nil
	}
	v4, v6 := families(svc)
	var addrs []netip.Addr
	for _, n := range nodes {
		if !lbnodes.Eligible(n) {
			continue
		}
		for _, a := range lbnodes.Addresses(n) {
			if a.Is4() && v4 || a.Is6() && v6 {
				addrs = append(addrs, a)
			}
		}
	}
	slices.SortFunc(addrs, func(a, b netip.Addr) int { return a.Compare(b) })
	addrs = slices.Compact(addrs)
	if len(addrs) == 0 {
		return nil
	}
	out := make([]corev1.LoadBalancerIngress, len(addrs))
	for i, a := range addrs {
		mode := corev1.LoadBalancerIPModeVIP
		out[i] = corev1.LoadBalancerIngress{IP: a.String(), IPMode: &mode}
	}
	return out
}

// Equal reports whether two ingress lists say the same thing; nil and
// empty are equal.
func Equal(a, b []corev1.LoadBalancerIngress) bool {
	if len(a) == 0 && len(b) == 0 {
		return true
	}
	return equality.Semantic.DeepEqual(a, b)
}

// families returns the IP families svc accepts: those in
// spec.ipFamilies, else that of its cluster IP, else both.
func families(svc *corev1.Service) (v4, v6 bool) {
	for _, f := range svc.Spec.IPFamilies {
		switch f {
		case corev1.IPv4Protocol:
			v4 = true
		case corev1.IPv6Protocol:
			v6 = true
		}
	}
	if v4 || v6 {
		return v4, v6
	}
	if a, err := netip.ParseAddr(svc.Spec.ClusterIP); err == nil {
		return a.Unmap().Is4(), !a.Unmap().Is4()
	}
	return true, true
}
