package scheduling

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	schedulingv1 "k8s.io/api/scheduling/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestPriorityClass(t *testing.T) {
	s := Resources()[0].Strategy
	tests := []struct {
		name string
		pc   schedulingv1.PriorityClass
		want []string
	}{
		{name: "user class", pc: schedulingv1.PriorityClass{ObjectMeta: metav1.ObjectMeta{Name: "high"}, Value: 1000}},
		{name: "system class", pc: schedulingv1.PriorityClass{ObjectMeta: metav1.ObjectMeta{Name: "system-node-critical"}, Value: 2000001000}},
		{
			name: "too high",
			pc:   schedulingv1.PriorityClass{ObjectMeta: metav1.ObjectMeta{Name: "high"}, Value: 1000000001},
			want: []string{"value: Forbidden: maximum allowed value of a user defined priority is 1000000000"},
		},
		{
			name: "reserved name",
			pc:   schedulingv1.PriorityClass{ObjectMeta: metav1.ObjectMeta{Name: "system-mine"}, Value: 1},
			want: []string{"metadata.name: Forbidden: priority class names with 'system-' prefix are reserved for system use only. error: system-mine is not a known system priority class"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s.Default(&tt.pc)
			if *tt.pc.PreemptionPolicy != corev1.PreemptLowerPriority {
				t.Errorf("preemptionPolicy defaulted to %v", *tt.pc.PreemptionPolicy)
			}
			var got []string
			for _, e := range s.Validate(&tt.pc) {
				got = append(got, e.Error())
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("errors (-want +got):\n%s", diff)
			}
		})
	}

	old := &schedulingv1.PriorityClass{Value: 1}
	s.Default(old)
	upd := old.DeepCopy()
	upd.Value = 2
	errs := s.ValidateUpdate(upd, old)
	if len(errs) != 1 || errs[0].Error() != "value: Forbidden: may not be changed in an update." {
		t.Errorf("value update: %v", errs)
	}
	if diff := cmp.Diff([]interface{}{int64(1), false, "<unknown>", "PreemptLowerPriority"}, s.TableRow(old)); diff != "" {
		t.Errorf("row (-want +got):\n%s", diff)
	}
}
