package podgc

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestDecide(t *testing.T) {
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	mk := func(name, node string, phase corev1.PodPhase, age int, deleting bool) *corev1.Pod {
		p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, CreationTimestamp: metav1.NewTime(base.Add(time.Duration(age) * time.Minute))},
			Spec: corev1.PodSpec{NodeName: node}, Status: corev1.PodStatus{Phase: phase}}
		if deleting {
			now := metav1.NewTime(base)
			p.DeletionTimestamp = &now
		}
		return p
	}
	pods := []*corev1.Pod{
		mk("running", "n1", corev1.PodRunning, 0, false),
		mk("orphan", "gone", corev1.PodRunning, 0, false),
		mk("done-old", "n1", corev1.PodSucceeded, 1, false),
		mk("done-mid", "n1", corev1.PodFailed, 2, false),
		mk("done-new", "n1", corev1.PodSucceeded, 3, false),
		mk("pending-deleted", "", corev1.PodPending, 0, true),
	}
	p := decide(pods, func(n string) bool { return n == "n1" }, 1)
	names := func(ps []*corev1.Pod) []string {
		var out []string
		for _, p := range ps {
			out = append(out, p.Name)
		}
		return out
	}
	got := [][]string{names(p.terminated), names(p.orphanCheck), names(p.unscheduled)}
	want := [][]string{{"done-old", "done-mid"}, {"orphan"}, {"pending-deleted"}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("decide (-want +got):\n%s", diff)
	}
}
