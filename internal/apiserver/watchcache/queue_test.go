package watchcache

import (
	"testing"

	"k8s.io/apimachinery/pkg/watch"
)

func ev(rev int64) Event { return Event{Type: watch.Modified, Key: "k", Rev: rev} }

func revs(es []Event) []int64 {
	var out []int64
	for _, e := range es {
		out = append(out, e.Rev)
	}
	return out
}

func TestQueueDeliversInOrderAndReusesBuffers(t *testing.T) {
	q := NewQueue(10)
	for r := int64(1); r <= 3; r++ {
		if !q.Push(ev(r)) {
			t.Fatalf("push %d refused", r)
		}
	}
	select {
	case <-q.Notify():
	default:
		t.Fatal("no signal after pushes")
	}
	batch, open := q.Take(nil)
	if !open || len(batch) != 3 || batch[0].Rev != 1 || batch[2].Rev != 3 {
		t.Fatalf("Take = %v, %v; want revisions 1..3, open", revs(batch), open)
	}
	if q.Len() != 0 {
		t.Fatalf("Len = %d after Take, want 0", q.Len())
	}
	q.Push(ev(4))
	next, open := q.Take(batch)
	if !open || len(next) != 1 || next[0].Rev != 4 {
		t.Fatalf("second Take = %v, %v; want [4], open", revs(next), open)
	}
	// The first batch's storage now holds what is pending, cleared.
	if batch[0].Object != nil || batch[0].Rev != 0 {
		t.Fatalf("handed-back buffer not cleared: %+v", batch[0])
	}
}

func TestQueueCutsOffASlowConsumer(t *testing.T) {
	q := NewQueue(2)
	if !q.Push(ev(1)) || !q.Push(ev(2)) {
		t.Fatal("pushes within the limit refused")
	}
	if q.Len() != 2 || q.Drained() {
		t.Fatalf("Len = %d with two pending", q.Len())
	}
	if q.Push(ev(3)) {
		t.Fatal("push over the limit accepted")
	}
	// Nothing is pending after the cut, but the events it dropped were
	// never taken: the queue must not pass for drained (a watch would
	// send a bookmark past them).
	if q.Len() != 0 || q.Drained() {
		t.Fatalf("after cut-off: Len = %d, Drained = %v; want 0, false", q.Len(), q.Drained())
	}
	if q.Push(ev(4)) {
		t.Fatal("push after cut-off accepted")
	}
	if batch, open := q.Take(nil); open || len(batch) != 0 {
		t.Fatalf("Take after cut-off = %v, %v; want nothing, closed", revs(batch), open)
	}
}

func TestQueueCloseLetsPendingDrain(t *testing.T) {
	q := NewQueue(10)
	q.Push(ev(1))
	q.Close()
	if q.Push(ev(2)) {
		t.Fatal("push after Close accepted")
	}
	batch, open := q.Take(nil)
	if !open || len(batch) != 1 || batch[0].Rev != 1 {
		t.Fatalf("Take after Close = %v, %v; want [1], open", revs(batch), open)
	}
	if _, open := q.Take(batch); open {
		t.Fatal("queue still open once drained after Close")
	}
}

func TestQueueCut(t *testing.T) {
	q := NewQueue(2)
	for i := range 2 {
		if !q.Push(Event{Rev: int64(i + 1)}) {
			t.Fatalf("push %d refused", i)
		}
	}
	if q.Cut() {
		t.Fatal("cut before the limit")
	}
	if q.Push(Event{Rev: 3}) || !q.Cut() {
		t.Fatal("a third pending event did not cut the queue off")
	}
	closed := NewQueue(2)
	closed.Close()
	if closed.Push(Event{Rev: 1}) || closed.Cut() {
		t.Fatal("a closed queue counts as cut")
	}
}

func TestQueueDrained(t *testing.T) {
	q := NewQueue(10)
	if !q.Drained() {
		t.Fatal("new queue not drained")
	}
	q.Push(ev(1))
	if q.Drained() {
		t.Fatal("drained with an event pending")
	}
	q.Take(nil)
	if !q.Drained() {
		t.Fatal("not drained after everything was taken")
	}
	q.Close()
	if q.Drained() {
		t.Fatal("a closed queue passes for drained")
	}
}
