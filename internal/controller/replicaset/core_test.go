package replicaset

import (
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

var t0 = time.Unix(10000, 0)

type podOpt func(*corev1.Pod)

func pod(name string, opts ...podOpt) *corev1.Pod {
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, CreationTimestamp: metav1.NewTime(t0), Labels: map[string]string{"app": "a"}},
		Spec: corev1.PodSpec{NodeName: "n1"}, Status: corev1.PodStatus{Phase: corev1.PodRunning}}
	for _, o := range opts {
		o(p)
	}
	return p
}

func unscheduled(p *corev1.Pod) { p.Spec.NodeName = ""; p.Status.Phase = corev1.PodPending }
func pending(p *corev1.Pod)     { p.Status.Phase = corev1.PodPending }
func readySince(d time.Duration) podOpt {
	return func(p *corev1.Pod) {
		p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: metav1.NewTime(t0.Add(-d))}}
	}
}
func createdAgo(d time.Duration) podOpt {
	return func(p *corev1.Pod) { p.CreationTimestamp = metav1.NewTime(t0.Add(-d)) }
}
func cost(v string) podOpt {
	return func(p *corev1.Pod) { p.Annotations = map[string]string{deletionCostAnnotation: v} }
}

func TestPodsToDelete(t *testing.T) {
	tests := []struct {
		name string
		pods []*corev1.Pod
		n    int
		want []string
	}{
		{"unscheduled before scheduled", []*corev1.Pod{pod("run", readySince(time.Hour)), pod("unsched", unscheduled)}, 1, []string{"unsched"}},
		{"pending before running", []*corev1.Pod{pod("run", readySince(time.Hour)), pod("pend", pending)}, 1, []string{"pend"}},
		{"not ready before ready", []*corev1.Pod{pod("ready", readySince(time.Hour)), pod("notready")}, 1, []string{"notready"}},
		{"lower deletion cost first", []*corev1.Pod{pod("cheap", readySince(time.Hour), cost("-5")), pod("dear", readySince(time.Hour), cost("10"))}, 1, []string{"cheap"}},
		{"recently ready first", []*corev1.Pod{pod("old", readySince(time.Hour)), pod("new", readySince(time.Minute))}, 1, []string{"new"}},
		{"newer first", []*corev1.Pod{pod("older", createdAgo(time.Hour)), pod("newer", createdAgo(time.Minute))}, 1, []string{"newer"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			for _, p := range podsToDelete(tt.pods, tt.n) {
				got = append(got, p.Name)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestCalculateStatus(t *testing.T) {
	three := int32(3)
	rs := &appsv1.ReplicaSet{
		ObjectMeta: metav1.ObjectMeta{Generation: 4},
		Spec: appsv1.ReplicaSetSpec{Replicas: &three, MinReadySeconds: 60,
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "a", "tier": "web"}}}},
	}
	full := func(p *corev1.Pod) { p.Labels["tier"] = "web" }
	pods := []*corev1.Pod{pod("long", readySince(time.Hour), full), pod("fresh", readySince(time.Second)), pod("down")}
	tests := []struct {
		name      string
		err       error
		want      appsv1.ReplicaSetStatus
		wantConds []string
	}{
		{"counts", nil, appsv1.ReplicaSetStatus{Replicas: 3, FullyLabeledReplicas: 1, ReadyReplicas: 2, AvailableReplicas: 1, ObservedGeneration: 4}, nil},
		{"failure condition", errors.New("quota"), appsv1.ReplicaSetStatus{Replicas: 3, FullyLabeledReplicas: 1, ReadyReplicas: 2, AvailableReplicas: 1, ObservedGeneration: 4}, []string{"ReplicaFailure/True/FailedCreate"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := calculateStatus(rs, pods, tt.err, t0)
			var conds []string
			for _, c := range got.Conditions {
				conds = append(conds, string(c.Type)+"/"+string(c.Status)+"/"+c.Reason)
			}
			got.Conditions = nil
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("status (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.wantConds, conds); diff != "" {
				t.Errorf("conditions (-want +got):\n%s", diff)
			}
		})
	}
	if d := nextAvailableCheck(rs, pods, t0); d <= 0 || d > time.Minute+time.Second {
		t.Errorf("nextAvailableCheck = %v, want about 59s", d)
	}
}

func TestFromRC(t *testing.T) {
	two := int32(2)
	rc := &corev1.ReplicationController{
		ObjectMeta: metav1.ObjectMeta{Name: "rc"},
		Spec: corev1.ReplicationControllerSpec{Replicas: &two,
			Template: &corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "x"}}}},
	}
	got := fromRC(rc)
	if diff := cmp.Diff(&metav1.LabelSelector{MatchLabels: map[string]string{"app": "x"}}, got.Spec.Selector); diff != "" {
		t.Errorf("selector defaults to template labels (-want +got):\n%s", diff)
	}
	if got.Kind != "ReplicationController" || *got.Spec.Replicas != 2 {
		t.Errorf("got kind %q replicas %d", got.Kind, *got.Spec.Replicas)
	}
}
