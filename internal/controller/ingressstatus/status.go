package ingressstatus

import (
	"net/netip"
	"slices"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/api/equality"

	"skiff/internal/lbnodes"
)

// Desired returns the status.loadBalancer.ingress entries of a served
// Ingress: one per address of every eligible node, sorted, deduplicated.
func Desired(nodes []*corev1.Node) []networkingv1.IngressLoadBalancerIngress {
	var addrs []netip.Addr
	for _, n := range nodes {
		if lbnodes.Eligible(n) {
			addrs = append(addrs, lbnodes.Addresses(n)...)
		}
	}
	slices.SortFunc(addrs, func(a, b netip.Addr) int { return a.Compare(b) })
	addrs = slices.Compact(addrs)
	var out []networkingv1.IngressLoadBalancerIngress
	for _, a := range addrs {
		out = append(out, networkingv1.IngressLoadBalancerIngress{IP: a.String()})
	}
	return out
}

// Equal reports whether two ingress lists say the same; nil and empty
// are equal.
func Equal(a, b []networkingv1.IngressLoadBalancerIngress) bool {
	if len(a) == 0 && len(b) == 0 {
		return true
	}
	return equality.Semantic.DeepEqual(a, b)
}
