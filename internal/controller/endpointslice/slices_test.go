package endpointslice

import (
	"fmt"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

func testPod(name, ip string, ready, terminating bool, port int32) *corev1.Pod {
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns"},
		Spec: corev1.PodSpec{NodeName: "n1", Containers: []corev1.Container{{Name: "c",
			Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: port}}}}},
		Status: corev1.PodStatus{Phase: corev1.PodRunning, PodIP: ip},
	}
	st := corev1.ConditionFalse
	if ready {
		st = corev1.ConditionTrue
	}
	p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: st}}
	if terminating {
		now := metav1.Now()
		p.DeletionTimestamp = &now
	}
	return p
}

// summary is one slice as "ports: ip(ready,serving,terminating) ...".
func summary(specs []sliceSpec) []string {
	var out []string
	for _, s := range specs {
		line := fmt.Sprintf("%s %s:", s.addressType, portsKey(s.ports))
		for _, e := range s.endpoints {
			line += fmt.Sprintf(" %s(%v,%v,%v)", e.Addresses[0], *e.Conditions.Ready, *e.Conditions.Serving, *e.Conditions.Terminating)
		}
		out = append(out, line)
	}
	return out
}

func TestDesiredSlices(t *testing.T) {
	svc := func(publishNotReady bool) *corev1.Service {
		return &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "ns"}, Spec: corev1.ServiceSpec{
			PublishNotReadyAddresses: publishNotReady,
			Ports:                    []corev1.ServicePort{{Name: "p", Port: 80, TargetPort: intstr.FromString("http")}},
		}}
	}
	tests := []struct {
		name string
		svc  *corev1.Service
		pods []*corev1.Pod
		want []string
	}{
		{"ready, not ready, terminating", svc(false), []*corev1.Pod{
			testPod("a", "10.0.0.1", true, false, 8080),
			testPod("b", "10.0.0.2", false, false, 8080),
			testPod("c", "10.0.0.3", true, true, 8080),
			testPod("noip", "", true, false, 8080),
		}, []string{"IPv4 p/8080/TCP: 10.0.0.1(true,true,false) 10.0.0.2(false,false,false) 10.0.0.3(false,true,true)"}},
		{"publishNotReadyAddresses", svc(true), []*corev1.Pod{testPod("b", "10.0.0.2", false, false, 8080)},
			[]string{"IPv4 p/8080/TCP: 10.0.0.2(true,true,false)"}},
		{"named port resolving differently splits slices", svc(false), []*corev1.Pod{
			testPod("a", "10.0.0.1", true, false, 8080), testPod("b", "10.0.0.2", true, false, 9090),
		}, []string{"IPv4 p/8080/TCP: 10.0.0.1(true,true,false)", "IPv4 p/9090/TCP: 10.0.0.2(true,true,false)"}},
		{"no pods keeps a placeholder", svc(false), nil, []string{"IPv4 :"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := summary(desiredSlices(tt.svc, tt.pods, func(string) string { return "" }))
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestDesiredSlicesAtMost100(t *testing.T) {
	svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "web"}, Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Port: 80}}}}
	var pods []*corev1.Pod
	for i := range 250 {
		pods = append(pods, testPod(fmt.Sprint(i), fmt.Sprintf("10.0.%d.%d", i/200, i%200), true, false, 80))
	}
	var sizes []int
	for _, s := range desiredSlices(svc, pods, func(string) string { return "" }) {
		sizes = append(sizes, len(s.endpoints))
	}
	if diff := cmp.Diff([]int{100, 100, 50}, sizes); diff != "" {
		t.Errorf("slice sizes (-want +got):\n%s", diff)
	}
}
