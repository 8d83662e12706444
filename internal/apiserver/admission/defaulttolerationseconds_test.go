package admission

import (
	"context"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
)

func TestDefaultTolerationSecondsOnUpdate(t *testing.T) {
	mine := corev1.Toleration{Key: "foo", Operator: corev1.TolerationOpEqual, Value: "bar", Effect: corev1.TaintEffectNoSchedule}
	tests := []struct {
		name        string
		op          Operation
		subresource string
		want        int // tolerations after admission
	}{
		{"create gets both defaults", Create, "", 3},
		{"an update replacing the tolerations gets them back", Update, "", 3},
		{"a status update is left alone", Update, "status", 1},
	}
	p := defaultTolerationSecondsPlugin{}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if !p.Handles(tt.op) {
				t.Fatalf("does not handle %s", tt.op)
			}
			pod := &corev1.Pod{Spec: corev1.PodSpec{Tolerations: []corev1.Toleration{mine}}}
			if err := p.Admit(context.Background(), &Attributes{Operation: tt.op, SubResource: tt.subresource, Object: pod}); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, len(pod.Spec.Tolerations)); diff != "" {
				t.Errorf("tolerations %v (-want +got count):\n%s", pod.Spec.Tolerations, diff)
			}
		})
	}
}
