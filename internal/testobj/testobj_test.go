package testobj

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestBuilders(t *testing.T) {
	tests := []struct {
		name string
		got  any
		want any
	}{{
		name: "pod",
		got:  Pod("web-0").Node("n1").Labels("app", "web").Req("cpu", "100m").Obj(),
		want: &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: "web-0", Namespace: "default", Labels: map[string]string{"app": "web"}},
			Spec: corev1.PodSpec{
				NodeName:                      "n1",
				TerminationGracePeriodSeconds: new(int64),
				Containers: []corev1.Container{{Name: "c", Image: Image, Resources: corev1.ResourceRequirements{
					Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m")}}}},
			},
		},
	}, {
		name: "node",
		got:  Node("n1").Taint("k", "v", corev1.TaintEffectNoSchedule).Ready().Obj(),
		want: &corev1.Node{
			ObjectMeta: metav1.ObjectMeta{Name: "n1", Labels: map[string]string{corev1.LabelHostname: "n1"}},
			Spec:       corev1.NodeSpec{Taints: []corev1.Taint{{Key: "k", Value: "v", Effect: corev1.TaintEffectNoSchedule}}},
			Status:     corev1.NodeStatus{Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue}}},
		},
	}, {
		name: "service without selector",
		got:  Service("s").Selector().Port("http", 80, 8080).Obj().Spec.Selector,
		want: map[string]string(nil),
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, tt.got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}
