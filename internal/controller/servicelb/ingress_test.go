package servicelb

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"skiff/internal/lbnodes"
)

// node builds a Ready node with the given addresses ("ExternalIP=1.2.3.4").
func node(name string, ready bool, addrs ...string) *corev1.Node {
	st := corev1.ConditionTrue
	if !ready {
		st = corev1.ConditionFalse
	}
	n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name}}
	n.Status.Conditions = []corev1.NodeCondition{{Type: corev1.NodeReady, Status: st}}
	for _, a := range addrs {
		typ, addr, _ := strings.Cut(a, "=")
		n.Status.Addresses = append(n.Status.Addresses, corev1.NodeAddress{Type: corev1.NodeAddressType(typ), Address: addr})
	}
	return n
}

func lbService(families ...corev1.IPFamily) *corev1.Service {
	return &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "web"},
		Spec:       corev1.ServiceSpec{Type: corev1.ServiceTypeLoadBalancer, IPFamilies: families},
	}
}

func vips(ips ...string) []corev1.LoadBalancerIngress {
	var out []corev1.LoadBalancerIngress
	for _, ip := range ips {
		mode := corev1.LoadBalancerIPModeVIP
		out = append(out, corev1.LoadBalancerIngress{IP: ip, IPMode: &mode})
	}
	return out
}

func TestDesired(t *testing.T) {
	cordoned := node("cordoned", true, "InternalIP=10.0.0.9")
	cordoned.Spec.Unschedulable = true
	excluded := node("excluded", true, "InternalIP=10.0.0.8")
	excluded.Labels = map[string]string{lbnodes.ExcludeLabel: ""}
	deleting := node("deleting", true, "InternalIP=10.0.0.7")
	deleting.DeletionTimestamp = &metav1.Time{}
	noCondition := node("new", true, "InternalIP=10.0.0.6")
	noCondition.Status.Conditions = nil
	class := "example.com/other"
	withClass := lbService(corev1.IPv4Protocol)
	withClass.Spec.LoadBalancerClass = &class
	clusterIP := lbService(corev1.IPv4Protocol)
	clusterIP.Spec.Type = corev1.ServiceTypeClusterIP
	clusterIP.Status.LoadBalancer.Ingress = vips("10.0.0.1")
	byClusterIP := lbService()
	byClusterIP.Spec.ClusterIP = "fd00::10"

	tests := []struct {
		name  string
		svc   *corev1.Service
		nodes []*corev1.Node
		want  []corev1.LoadBalancerIngress
	}{{
		name: "internal addresses, sorted",
		svc:  lbService(corev1.IPv4Protocol),
		nodes: []*corev1.Node{
			node("b", true, "InternalIP=10.0.0.10", "Hostname=b"),
			node("a", true, "InternalIP=10.0.0.2"),
		},
		want: vips("10.0.0.2", "10.0.0.10"),
	}, {
		name: "external address wins over internal",
		svc:  lbService(corev1.IPv4Protocol),
		nodes: []*corev1.Node{
			node("a", true, "InternalIP=10.0.0.2", "ExternalIP=203.0.113.5"),
			node("b", true, "InternalIP=10.0.0.3"),
		},
		want: vips("10.0.0.3", "203.0.113.5"),
	}, {
		name: "duplicates collapse",
		svc:  lbService(corev1.IPv4Protocol),
		nodes: []*corev1.Node{
			node("a", true, "InternalIP=10.0.0.2"),
			node("b", true, "InternalIP=10.0.0.2", "InternalIP=10.0.0.2"),
		},
		want: vips("10.0.0.2"),
	}, {
		name: "not ready, cordoned, excluded, deleting and unknown nodes are left out",
		svc:  lbService(corev1.IPv4Protocol),
		nodes: []*corev1.Node{
			node("a", true, "InternalIP=10.0.0.2"),
			node("down", false, "InternalIP=10.0.0.3"),
			cordoned, excluded, deleting, noCondition,
		},
		want: vips("10.0.0.2"),
	}, {
		name:  "IPv4 only service skips IPv6 addresses",
		svc:   lbService(corev1.IPv4Protocol),
		nodes: []*corev1.Node{node("a", true, "InternalIP=10.0.0.2", "InternalIP=fd00::2")},
		want:  vips("10.0.0.2"),
	}, {
		name:  "dual stack, external per family",
		svc:   lbService(corev1.IPv6Protocol, corev1.IPv4Protocol),
		nodes: []*corev1.Node{node("a", true, "InternalIP=10.0.0.2", "InternalIP=fd00::2", "ExternalIP=2001:db8::2")},
		want:  vips("10.0.0.2", "2001:db8::2"),
	}, {
		name:  "family from the cluster IP when ipFamilies is unset",
		svc:   byClusterIP,
		nodes: []*corev1.Node{node("a", true, "InternalIP=10.0.0.2", "InternalIP=fd00::2")},
		want:  vips("fd00::2"),
	}, {
		name:  "no eligible node",
		svc:   lbService(corev1.IPv4Protocol),
		nodes: []*corev1.Node{node("down", false, "InternalIP=10.0.0.3")},
		want:  nil,
	}, {
		name:  "another class is not ours",
		svc:   withClass,
		nodes: []*corev1.Node{node("a", true, "InternalIP=10.0.0.2")},
		want:  nil,
	}, {
		name:  "no longer a load balancer",
		svc:   clusterIP,
		nodes: []*corev1.Node{node("a", true, "InternalIP=10.0.0.2")},
		want:  nil,
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Desired(tt.svc, tt.nodes)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Desired (-want +got):\n%s", diff)
			}
		})
	}
}

func TestNodeChanged(t *testing.T) {
	base := node("a", true, "InternalIP=10.0.0.2")
	heartbeat := base.DeepCopy()
	heartbeat.Status.Conditions[0].LastHeartbeatTime = metav1.Now()
	notReady := node("a", false, "InternalIP=10.0.0.2")
	moved := node("a", true, "InternalIP=10.0.0.3")
	cordoned := base.DeepCopy()
	cordoned.Spec.Unschedulable = true
	tests := []struct {
		name string
		cur  *corev1.Node
		want bool
	}{
		{"heartbeat only", heartbeat, false},
		{"ready changed", notReady, true},
		{"address changed", moved, true},
		{"cordoned", cordoned, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := lbnodes.Changed(base, tt.cur); got != tt.want {
				t.Errorf("Changed = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestEqual(t *testing.T) {
	if !Equal(nil, []corev1.LoadBalancerIngress{}) {
		t.Error("nil and empty differ")
	}
	if Equal(vips("10.0.0.1"), []corev1.LoadBalancerIngress{{IP: "10.0.0.1"}}) {
		t.Error("a missing ipMode went unnoticed")
	}
}
