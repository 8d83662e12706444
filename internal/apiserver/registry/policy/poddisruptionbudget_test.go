package policy

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

func TestPDB(t *testing.T) {
	s := Resources()[0].Strategy
	one, half, tooMuch := intstr.FromInt32(1), intstr.FromString("50%"), intstr.FromString("150%")
	tests := []struct {
		name string
		spec policyv1.PodDisruptionBudgetSpec
		want []string
	}{
		{name: "minAvailable", spec: policyv1.PodDisruptionBudgetSpec{MinAvailable: &one}},
		{name: "both set", spec: policyv1.PodDisruptionBudgetSpec{MinAvailable: &one, MaxUnavailable: &half}, want: []string{"spec"}},
		{name: "over 100%", spec: policyv1.PodDisruptionBudgetSpec{MaxUnavailable: &tooMuch}, want: []string{"spec.maxUnavailable"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			for _, e := range s.Validate(&policyv1.PodDisruptionBudget{Spec: tt.spec}) {
				got = append(got, e.Field)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("errors (-want +got):\n%s", diff)
			}
		})
	}
	row := s.TableRow(&policyv1.PodDisruptionBudget{Spec: policyv1.PodDisruptionBudgetSpec{MaxUnavailable: &half}, Status: policyv1.PodDisruptionBudgetStatus{DisruptionsAllowed: 1}})
	if diff := cmp.Diff([]interface{}{"N/A", "50%", int64(1), "<unknown>"}, row); diff != "" {
		t.Errorf("row (-want +got):\n%s", diff)
	}
}
