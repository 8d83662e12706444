package nodelifecycle

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestEvictionTime(t *testing.T) {
	added := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	now := added.Add(10 * time.Second)
	taints := []corev1.Taint{{Key: TaintUnreachable, Effect: corev1.TaintEffectNoExecute, TimeAdded: &metav1.Time{Time: added}}}
	secs := func(s int64) *int64 { return &s }
	tol := func(s *int64) corev1.Toleration {
		return corev1.Toleration{Key: TaintUnreachable, Operator: corev1.TolerationOpExists, TolerationSeconds: s}
	}
	tests := []struct {
		name   string
		tols   []corev1.Toleration
		wantAt time.Time
		wantOK bool
	}{
		{name: "not tolerated: now", wantAt: now, wantOK: true},
		{name: "tolerated forever"},
		{name: "tolerated 300s", tols: []corev1.Toleration{tol(secs(300))}, wantAt: added.Add(300 * time.Second), wantOK: true},
		{name: "smallest of several", tols: []corev1.Toleration{tol(secs(300)), tol(nil), tol(secs(60))}, wantAt: added.Add(60 * time.Second), wantOK: true},
	}
	tests[1].tols = []corev1.Toleration{tol(nil)}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			at, ok := evictionTime(&corev1.Pod{Spec: corev1.PodSpec{Tolerations: tt.tols}}, taints, now)
			if diff := cmp.Diff([]any{tt.wantAt, tt.wantOK}, []any{at, ok}); diff != "" {
				t.Errorf("evictionTime (-want +got):\n%s", diff)
			}
		})
	}
}

func TestDesiredTaints(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	n := &corev1.Node{
		Spec: corev1.NodeSpec{Unschedulable: true, Taints: []corev1.Taint{{Key: "user", Effect: corev1.TaintEffectNoSchedule},
			{Key: TaintNotReady, Effect: corev1.TaintEffectNoExecute}}},
		Status: corev1.NodeStatus{Conditions: []corev1.NodeCondition{
			{Type: corev1.NodeReady, Status: corev1.ConditionUnknown},
			{Type: corev1.NodeMemoryPressure, Status: corev1.ConditionTrue}}},
	}
	var got []string
	for _, t := range desiredTaints(n, now) {
		got = append(got, t.Key+":"+string(t.Effect))
	}
	want := []string{"user:NoSchedule", TaintUnreachable + ":NoSchedule", TaintUnreachable + ":NoExecute",
		TaintMemoryPressure + ":NoSchedule", TaintUnschedulable + ":NoSchedule"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("desiredTaints (-want +got):\n%s", diff)
	}
}
