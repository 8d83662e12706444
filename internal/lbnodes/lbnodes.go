// Package lbnodes says which nodes take traffic from outside the cluster
// for skiff's built-in load balancers (LoadBalancer Services and
// Ingresses), and at which addresses: the rules both the servicelb and
// the ingress-status controllers publish by.
package lbnodes

import (
	"net/netip"
	"slices"

	corev1 "k8s.io/api/core/v1"
)

// ExcludeLabel keeps a node out of every load balancer, as upstream's
// service controller does.
const ExcludeLabel = "node.kubernetes.io/exclude-from-external-load-balancers"

// Eligible reports whether node serves load balancer traffic: it is
// Ready, schedulable, not being deleted and not excluded by label.
func Eligible(node *corev1.Node) bool {
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

// Addresses returns the addresses node answers on for load balancer
// traffic: per IP family, IPv4 first, its ExternalIPs when it has any,
// else its InternalIPs.
func Addresses(node *corev1.Node) []netip.Addr {
	var ext, in []netip.Addr
	for _, na := range node.Status.Addresses {
		a, err := netip.ParseAddr(na.Address)
		if err != nil {
			continue
		}
		a = a.Unmap()
		switch na.Type {
		case corev1.NodeExternalIP:
			ext = append(ext, a)
		case corev1.NodeInternalIP:
			in = append(in, a)
		}
	}
	var out []netip.Addr
	for _, is6 := range []bool{false, true} {
		other := func(a netip.Addr) bool { return a.Is6() != is6 }
		if e := slices.DeleteFunc(slices.Clone(ext), other); len(e) > 0 {
			out = append(out, e...)
		} else {
			out = append(out, slices.DeleteFunc(slices.Clone(in), other)...)
		}
	}
	return out
}

// Changed reports whether a node update can change what a load balancer
// publishes: the node's eligibility or its addresses. Heartbeats alone do
// not.
func Changed(old, cur *corev1.Node) bool {
	return Eligible(old) != Eligible(cur) || !slices.Equal(Addresses(old), Addresses(cur))
}
