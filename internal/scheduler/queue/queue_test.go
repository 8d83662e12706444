package queue

import (
	"context"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	testingclock "k8s.io/utils/clock/testing"

	"skiff/internal/scheduler/framework"
)

func pod(name string, prio int32) *v1.Pod {
	return &v1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns", UID: types.UID(name)},
		Spec:       v1.PodSpec{Priority: &prio},
	}
}

func less(a, b *framework.QueuedPodInfo) bool {
	pa, pb := *a.Pod.Spec.Priority, *b.Pod.Spec.Priority
	return pa > pb || (pa == pb && a.Timestamp < b.Timestamp)
}

func newQueue(clk *testingclock.FakeClock) *Queue {
	return New(Config{Less: less, Clock: clk})
}

func popNames(t *testing.T, q *Queue, n int) []string {
	t.Helper()
	var out []string
	for range n {
		qpi, _, err := q.Pop(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, qpi.Pod.Name)
	}
	return out
}

func TestPriorityThenAge(t *testing.T) {
	clk := testingclock.NewFakeClock(time.Unix(1000, 0))
	q := newQueue(clk)
	for _, p := range []*v1.Pod{pod("old-low", 0), pod("high", 100), pod("mid", 10)} {
		q.Add(p)
		clk.Step(time.Millisecond)
	}
	q.Add(pod("new-low", 0))
	want := []string{"high", "mid", "old-low", "new-low"}
	if diff := cmp.Diff(want, popNames(t, q, 4)); diff != "" {
		t.Errorf("pop order (-want +got):\n%s", diff)
	}
}

func TestUnschedulableAndBackoff(t *testing.T) {
	clk := testingclock.NewFakeClock(time.Unix(1000, 0))
	q := newQueue(clk)
	q.Add(pod("p", 0))
	qpi, cycle, _ := q.Pop(context.Background())
	q.AddUnschedulable(qpi, cycle, false)
	if a, b, u := q.Len(); a != 0 || b != 0 || u != 1 {
		t.Fatalf("after failure: active %d backoff %d unschedulable %d, want 0 0 1", a, b, u)
	}
	// An event moves it to backoff (its 1 s backoff has not expired).
	q.MoveAll(nil)
	if a, b, u := q.Len(); a != 0 || b != 1 || u != 0 {
		t.Fatalf("after event: active %d backoff %d unschedulable %d, want 0 1 0", a, b, u)
	}
	clk.Step(1100 * time.Millisecond)
	q.flush()
	if a, _, _ := q.Len(); a != 1 {
		t.Fatalf("after backoff: active %d, want 1", a)
	}
	// Second attempt: backoff doubles to 2 s.
	qpi, _, _ = q.Pop(context.Background())
	if got := q.backoffDuration(qpi); got != 2*time.Second {
		t.Errorf("backoff after 2 attempts = %v, want 2s", got)
	}
	qpi.Attempts = 10
	if got := q.backoffDuration(qpi); got != 10*time.Second {
		t.Errorf("backoff after 10 attempts = %v, want the 10s cap", got)
	}
}

func TestEventDuringAttemptGoesToBackoff(t *testing.T) {
	clk := testingclock.NewFakeClock(time.Unix(1000, 0))
	q := newQueue(clk)
	q.Add(pod("p", 0))
	qpi, cycle, _ := q.Pop(context.Background())
	q.MoveAll(nil) // a node was added while p was being scheduled
	q.AddUnschedulable(qpi, cycle, false)
	if _, b, u := q.Len(); b != 1 || u != 0 {
		t.Fatalf("backoff %d unschedulable %d, want 1 0", b, u)
	}
}

func TestParkedPodsFlushAfterFiveMinutes(t *testing.T) {
	clk := testingclock.NewFakeClock(time.Unix(1000, 0))
	q := newQueue(clk)
	q.Add(pod("p", 0))
	qpi, cycle, _ := q.Pop(context.Background())
	q.AddUnschedulable(qpi, cycle, false)
	clk.Step(4 * time.Minute)
	q.flush()
	if a, _, _ := q.Len(); a != 0 {
		t.Fatalf("flushed too early")
	}
	clk.Step(2 * time.Minute)
	q.flush()
	if a, _, u := q.Len(); a != 1 || u != 0 {
		t.Fatalf("active %d unschedulable %d after 6 min, want 1 0", a, u)
	}
}

func TestDeleteAndPopCancel(t *testing.T) {
	q := newQueue(testingclock.NewFakeClock(time.Unix(1000, 0)))
	q.Add(pod("p", 0))
	q.Delete(pod("p", 0))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, _, err := q.Pop(ctx); err == nil {
		t.Fatal("Pop on an empty queue with a cancelled context returned no error")
	}
}

func TestNominations(t *testing.T) {
	q := newQueue(testingclock.NewFakeClock(time.Unix(1000, 0)))
	if q.NominatedSnapshot() != nil {
		t.Fatal("empty queue has nominations")
	}
	q.Nominate(pod("p", 10), "n1")
	snap := q.NominatedSnapshot()
	if len(snap["n1"]) != 1 || snap["n1"][0].Pod.Name != "p" {
		t.Fatalf("nominations = %v", snap)
	}
	q.ForgetNomination("p")
	if q.NominatedSnapshot() != nil {
		t.Fatal("nomination not forgotten")
	}
}
