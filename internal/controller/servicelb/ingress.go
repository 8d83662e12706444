package servicelb

import (
	"net/netip"
	"slices"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
)

// ExcludeLabel keeps a node out of every load balancer, as upstream's
// service controller does.
const ExcludeLabel = "node.kubernetes.io/exclude-from-external-load-balancers"

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
		if !Eligible(n) {
			continue
		}
		for _, a := range NodeAddresses(n) {
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

// Eligible reports whether node serves load balancer traffic: it is
// Ready, schedulable, not being deleted and not excluded by label.
func Eligible(node *corev1.Node) bool {
	if node.DeletionTimestamp != nil || node.Spec.Unschedulable {
		return false
	}
	if _, ok := node.Labels[ExcludeLabel]; ok {
		return false
	}
	return Ready(node)
}

// Ready reports whether node's Ready condition is True.
func Ready(node *corev1.Node) bool {
	for _, c := range node.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// NodeAddresses returns the addresses node answers on for load balancer
// traffic: per IP family, its ExternalIPs when it has any, else its
// InternalIPs.
func NodeAddresses(node *corev1.Node) []netip.Addr {
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
		fam := func(a netip.Addr) bool { return a.Is6() != is6 }
		if e := slices.DeleteFunc(slices.Clone(ext), fam); len(e) > 0 {
			out = append(out, e...)
		} else {
			out = append(out, slices.DeleteFunc(slices.Clone(in), fam)...)
		}
	}
	return out
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

// nodeChanged reports whether a node update can change any Service's
// ingress: its eligibility or its addresses. Heartbeats alone do not.
func nodeChanged(old, cur *corev1.Node) bool {
	return Eligible(old) != Eligible(cur) || !slices.Equal(NodeAddresses(old), NodeAddresses(cur))
}
