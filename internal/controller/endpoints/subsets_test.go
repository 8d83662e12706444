package endpoints

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

func TestDesiredSubsets(t *testing.T) {
	pod := func(name, ip string, ready, terminating bool) *corev1.Pod {
		p := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns"},
			Spec:       corev1.PodSpec{Containers: []corev1.Container{{Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 8080}}}}},
			Status:     corev1.PodStatus{Phase: corev1.PodRunning, PodIP: ip},
		}
		if ready {
			p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}
		}
		if terminating {
			now := metav1.Now()
			p.DeletionTimestamp = &now
		}
		return p
	}
	svc := func(publish bool) *corev1.Service {
		return &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "ns"}, Spec: corev1.ServiceSpec{
			PublishNotReadyAddresses: publish,
			Ports:                    []corev1.ServicePort{{Name: "web", Port: 80, TargetPort: intstr.FromString("http")}},
		}}
	}
	pods := []*corev1.Pod{pod("b", "10.0.0.2", false, false), pod("a", "10.0.0.1", true, false), pod("gone", "10.0.0.3", true, true)}
	type view struct{ Ready, NotReady []string }
	tests := []struct {
		name string
		svc  *corev1.Service
		want view
	}{
		{"ready and not ready, terminating left out", svc(false), view{Ready: []string{"10.0.0.1"}, NotReady: []string{"10.0.0.2"}}},
		{"publishNotReadyAddresses includes all", svc(true), view{Ready: []string{"10.0.0.1", "10.0.0.2", "10.0.0.3"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			subsets := desiredSubsets(tt.svc, pods)
			if len(subsets) != 1 {
				t.Fatalf("got %d subsets, want 1", len(subsets))
			}
			var got view
			for _, a := range subsets[0].Addresses {
				got.Ready = append(got.Ready, a.IP)
			}
			for _, a := range subsets[0].NotReadyAddresses {
				got.NotReady = append(got.NotReady, a.IP)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
			if diff := cmp.Diff([]corev1.EndpointPort{{Name: "web", Port: 8080, Protocol: corev1.ProtocolTCP}}, subsets[0].Ports); diff != "" {
				t.Errorf("ports (-want +got):\n%s", diff)
			}
		})
	}
}
