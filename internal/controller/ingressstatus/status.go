package ingressstatus

import (
	"net/netip"
	"slices"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/api/equality"
)

// ExcludeLabel keeps a node out of every load balancer, and so out of
// the Ingresses' addresses.
const ExcludeLabel = "node.kubernetes.io/exclude-from-external-load-balancers"

// Desired returns the status.loadBalancer.ingress entries of a served
// Ingress: one per address of every eligible node, sorted, deduplicated.
func Desired(nodes []*corev1.Node) []networkingv1.IngressLoadBalancerIngress {
	var addrs []netip.Addr
	for _, n := range nodes {
		if eligible(n) {
			addrs = append(addrs, nodeAddresses(n)...)
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

// eligible reports whether node serves ingress traffic: Ready,
// schedulable, not being deleted and not excluded by label.
func eligible(node *corev1.Node) bool {
	if node.DeletionTimestamp != nil || node.Spec.Unschedulable {
		return false
	}
	if _, ok := node.Labels[ExcludeLabel]; ok {
		return false
	}
	for _, c := range node.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// nodeAddresses are node's addresses for outside traffic: per IP family
// its ExternalIPs when it has any, else its InternalIPs.
func nodeAddresses(node *corev1.Node) []netip.Addr {
	var ext, in []netip.Addr
	for _, na := range node.Status.Addresses {
		a, err := netip.ParseAddr(na.Address)
		if err != nil {
			continue
		}
		switch na.Type {
		case corev1.NodeExternalIP:
			ext = append(ext, a.Unmap())
		case corev1.NodeInternalIP:
			in = append(in, a.Unmap())
		}
	}
	var out []netip.Addr
	for _, is4 := range []bool{true, false} {
		pick := ext
		if !slices.ContainsFunc(ext, func(a netip.Addr) bool { return a.Is4() == is4 }) {
			pick = in
		}
		for _, a := range pick {
			if a.Is4() == is4 {
				out = append(out, a)
			}
		}
	}
	return out
}

// nodeChanged reports whether a node update can change any Ingress's
// status: its eligibility or its addresses. Heartbeats alone do not.
func nodeChanged(old, cur *corev1.Node) bool {
	return eligible(old) != eligible(cur) || !slices.Equal(nodeAddresses(old), nodeAddresses(cur))
}
