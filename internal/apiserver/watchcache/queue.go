package watchcache

import "sync"

// Queue hands events from a producer to one consumer. It holds only what is
// pending, so an idle watch costs a few words instead of a buffer sized for
// its worst burst; a consumer that falls more than limit events behind is
// cut off, and resumes from the last revision it saw.
type Queue struct {
	mu      sync.Mutex
	pending []Event
	limit   int
	closed  bool
	// cut: closed because the consumer fell behind.
	cut bool
	// notify has room for one signal: "there is something to take".
	notify chan struct{}
}

// NewQueue returns a queue that closes itself once more than limit events
// are pending.
func NewQueue(limit int) *Queue {
	return &Queue{limit: limit, notify: make(chan struct{}, 1)}
}

// Push adds e. It reports false, and closes the queue, when the consumer
// is too far behind; it also reports false on a closed queue.
func (q *Queue) Push(e Event) bool {
	q.mu.Lock()
	if q.closed {
		q.mu.Unlock()
		return false
	}
	if len(q.pending) >= q.limit {
		q.closed, q.cut = true, true
		q.pending = nil
		q.mu.Unlock()
		q.signal()
		return false
	}
	q.pending = append(q.pending, e)
	q.mu.Unlock()
	q.signal()
	return true
}

// Cut reports whether the queue was closed because its consumer fell
// more than its limit behind.
func (q *Queue) Cut() bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.cut
}

// Close ends the queue; what is pending can still be taken.
func (q *Queue) Close() {
	q.mu.Lock()
	q.closed = true
	q.mu.Unlock()
	q.signal()
}

func (q *Queue) signal() {
	select {
	case q.notify <- struct{}{}:
	default:
	}
}

// Notify receives a signal whenever Take may have something new to report.
func (q *Queue) Notify() <-chan struct{} { return q.notify }

// Take returns the pending events, reusing buf's storage for the next
// batch, and false once the queue is closed and nothing is left.
func (q *Queue) Take(buf []Event) ([]Event, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	out := q.pending
	if len(out) == 0 && q.closed {
		return nil, false
	}
	clear(buf[:cap(buf)])
	// A burst's large buffer is not kept for an idle watch.
	if cap(buf) > 256 {
		buf = nil
	}
	q.pending = buf[:0]
	return out, true
}

// Drained reports whether the consumer has taken every event pushed so
// far: nothing is pending and the queue is open. A queue cut off or
// closed is never drained, since what it dropped was never taken.
func (q *Queue) Drained() bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.pending) == 0 && !q.closed
}

// Len is how many events are pending.
func (q *Queue) Len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.pending)
}
