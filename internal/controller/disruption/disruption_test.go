package disruption

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
)

func TestComputeStatus(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	yes := true
	pod := func(name string, ready bool, owner string) *corev1.Pod {
		p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns"}}
		if owner != "" {
			p.OwnerReferences = []metav1.OwnerReference{{Kind: "ReplicaSet", Name: owner, UID: types.UID(owner), Controller: &yes}}
		}
		s := corev1.ConditionFalse
		if ready {
			s = corev1.ConditionTrue
		}
		p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: s}}
		return p
	}
	scale := func(_ string, ref *metav1.OwnerReference) (types.UID, int32, error) { return ref.UID, 4, nil }
	three := []*corev1.Pod{pod("a", true, "rs"), pod("b", true, "rs"), pod("c", false, "rs")}
	intOr := func(v intstr.IntOrString) *intstr.IntOrString { return &v }
	type res struct {
		Expected, Desired, Healthy, Allowed int32
		Reason                              string
	}
	tests := []struct {
		name string
		spec policyv1.PodDisruptionBudgetSpec
		pods []*corev1.Pod
		want res
	}{
		{name: "minAvailable int", spec: policyv1.PodDisruptionBudgetSpec{MinAvailable: intOr(intstr.FromInt32(1))}, pods: three,
			want: res{3, 1, 2, 1, ReasonSufficientPods}},
		{name: "minAvailable percent uses scale", spec: policyv1.PodDisruptionBudgetSpec{MinAvailable: intOr(intstr.FromString("50%"))}, pods: three,
			want: res{4, 2, 2, 0, ReasonInsufficientPods}},
		{name: "maxUnavailable", spec: policyv1.PodDisruptionBudgetSpec{MaxUnavailable: intOr(intstr.FromInt32(3))}, pods: three,
			want: res{4, 1, 2, 1, ReasonSufficientPods}},
		{name: "orphan pod with percent", spec: policyv1.PodDisruptionBudgetSpec{MaxUnavailable: intOr(intstr.FromString("10%"))},
			pods: []*corev1.Pod{pod("x", true, "")}, want: res{0, 0, 1, 0, ReasonSyncFailed}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pdb := &policyv1.PodDisruptionBudget{Spec: tt.spec}
			st, _, _ := computeStatus(pdb, tt.pods, scale, now)
			got := res{st.ExpectedPods, st.DesiredHealthy, st.CurrentHealthy, st.DisruptionsAllowed, st.Conditions[0].Reason}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("status (-want +got):\n%s", diff)
			}
		})
	}
}
