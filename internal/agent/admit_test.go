package agent

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestAdmitPod(t *testing.T) {
	withPort := func(name, ip string, port int32, proto corev1.Protocol) *corev1.Pod {
		p := testPod(name).containers("c").obj()
		p.Spec.Containers[0].Ports = []corev1.ContainerPort{{ContainerPort: 80, HostPort: port, HostIP: ip, Protocol: proto}}
		return p
	}
	withCPU := func(name, cpu string) *corev1.Pod {
		p := testPod(name).containers("c").obj()
		p.Spec.Containers[0].Resources.Requests = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(cpu)}
		return p
	}
	alloc := corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("2"), corev1.ResourceMemory: resource.MustParse("1Gi"), corev1.ResourcePods: resource.MustParse("3")}
	tests := []struct {
		name     string
		pod      *corev1.Pod
		admitted []*corev1.Pod
		want     *rejection
	}{
		{name: "fits", pod: withCPU("p", "1"), admitted: []*corev1.Pod{withCPU("a", "1")}},
		{name: "host port taken", pod: withPort("p", "", 8080, ""), admitted: []*corev1.Pod{withPort("a", "", 8080, corev1.ProtocolTCP)},
			want: &rejection{Reason: "NodePorts", Message: "Pod was rejected: Predicate NodePorts failed: node(s) didn't have free ports for the requested pod ports"}},
		{name: "host port taken on every address", pod: withPort("p", "10.0.0.1", 8080, ""), admitted: []*corev1.Pod{withPort("a", "", 8080, "")},
			want: &rejection{Reason: "NodePorts", Message: "Pod was rejected: Predicate NodePorts failed: node(s) didn't have free ports for the requested pod ports"}},
		{name: "same port, other protocol", pod: withPort("p", "", 8080, corev1.ProtocolUDP), admitted: []*corev1.Pod{withPort("a", "", 8080, "")}},
		{name: "same port, other address", pod: withPort("p", "10.0.0.2", 8080, ""), admitted: []*corev1.Pod{withPort("a", "10.0.0.1", 8080, "")}},
		{name: "out of cpu", pod: withCPU("p", "1500m"), admitted: []*corev1.Pod{withCPU("a", "1")},
			want: &rejection{Reason: "OutOfcpu", Message: "Pod was rejected: Node didn't have enough resource: cpu, requested: 1500, used: 1000, capacity: 2000"}},
		{name: "a pod being deleted gives its cpu up", pod: withCPU("p", "1500m"), admitted: []*corev1.Pod{deleting(withCPU("a", "1"))}},
		{name: "out of pods", pod: withCPU("p", "0"), admitted: []*corev1.Pod{withCPU("a", "0"), withCPU("b", "0"), withCPU("c", "0")},
			want: &rejection{Reason: "OutOfpods", Message: "Pod was rejected: Node didn't have enough resource: pods, requested: 1, used: 3, capacity: 3"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, admitPod(tt.pod, tt.admitted, alloc), cmp.AllowUnexported(rejection{})); diff != "" {
				t.Errorf("admitPod (-want +got):\n%s", diff)
			}
		})
	}
}

func TestPodRequests(t *testing.T) {
	p := testPod("p").containers("c1", "c2").obj()
	p.Spec.Containers[0].Resources.Requests = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m")}
	p.Spec.Containers[1].Resources.Requests = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("200m")}
	p.Spec.InitContainers = []corev1.Container{{Name: "big-init", Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1")}}}}
	got := podRequests(p)[corev1.ResourceCPU]
	if got.MilliValue() != 1000 {
		t.Errorf("cpu request %s, want the init container's 1", got.String())
	}
}

func deleting(p *corev1.Pod) *corev1.Pod {
	p.DeletionTimestamp = &metav1.Time{Time: t0}
	return p
}
