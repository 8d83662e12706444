package apf

import (
	"context"
	"errors"
	"sync"
	"time"
)

// ErrRejected is returned when a request finds its queue full, or finds
// no free seat at a level that does not queue.
var ErrRejected = errors.New("apf: queue full")

// ErrTimedOut is returned when a request waited in its queue longer than
// the queue wait limit.
var ErrTimedOut = errors.New("apf: waited too long in queue")

// Level dispatches the requests of one priority level: at most limit
// seats are in use; requests beyond that wait in queues, a flow's request
// in the shortest of the queues its hash deals it (shuffle sharding), and
// a freed seat goes to the head of the non-empty queue that has the
// fewest seats executing, so that one flow cannot crowd out the others.
type Level struct {
	name      string
	uidHeader []string
	exempt    bool

	mu          sync.Mutex
	limit       int
	queues      []*queue // nil: reject rather than queue
	handSize    int
	queueLength int
	inUse       int
	waiting     int
	// next is where the search for the next queue to serve starts, so
	// that ties go round the queues.
	next int
}

type queue struct {
	waiting []*waiter
	// queued and executing count seats.
	queued, executing int
}

type waiter struct {
	seats    int
	queue    *queue
	ready    chan struct{}
	admitted bool // under the level's lock
	rejected bool
}

// Ticket holds an admitted request's seats until Release.
type Ticket struct {
	level *Level
	queue *queue
	seats int
}

// Release frees the ticket's seats for waiting requests. The zero Ticket
// (an exempt request's) releases nothing.
func (t Ticket) Release() {
	l := t.level
	if l == nil {
		return
	}
	l.mu.Lock()
	l.inUse -= t.seats
	if t.queue != nil {
		t.queue.executing -= t.seats
	}
	if l.waiting > 0 {
		l.dispatchLocked()
	}
	l.mu.Unlock()
}

// levelSettings is a level's configuration, derived from its
// PriorityLevelConfiguration and the server's concurrency.
type levelSettings struct {
	exempt      bool
	limit       int
	queues      int // 0: reject
	handSize    int
	queueLength int
}

// configure applies new settings. Waiting requests are refused when the
// queues change shape (their flows would hash elsewhere); otherwise as
// many as the new limit allows are dispatched.
func (l *Level) configure(s levelSettings) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.exempt = s.exempt
	l.limit = s.limit
	l.handSize, l.queueLength = s.handSize, s.queueLength
	if s.queues != len(l.queues) {
		for _, q := range l.queues {
			for _, w := range q.waiting {
				w.rejected = true
				close(w.ready)
			}
		}
		l.waiting = 0
		l.queues = nil
		for range s.queues {
			l.queues = append(l.queues, &queue{})
		}
	}
	if s.exempt {
		l.limit = int(^uint(0) >> 1)
	}
	l.dispatchLocked()
}

// acquire waits for seats. hash names the request's flow.
func (l *Level) acquire(ctx context.Context, hash uint64, seats int, maxWait time.Duration) (Ticket, error) {
	l.mu.Lock()
	seats = max(1, min(seats, l.limit))
	if l.queues == nil {
		if l.inUse+seats > l.limit {
			l.mu.Unlock()
			return Ticket{}, ErrRejected
		}
		l.inUse += seats
		l.mu.Unlock()
		return Ticket{level: l, seats: seats}, nil
	}
	var buf [maxHand]int
	var q *queue
	for _, i := range dealHand(hash, len(l.queues), l.handSize, buf[:0]) {
		c := l.queues[i]
		if q == nil || c.queued+c.executing < q.queued+q.executing {
			q = c
		}
	}
	if l.waiting == 0 && l.inUse+seats <= l.limit {
		l.inUse += seats
		q.executing += seats
		l.mu.Unlock()
		return Ticket{level: l, queue: q, seats: seats}, nil
	}
	if len(q.waiting) >= l.queueLength {
		l.mu.Unlock()
		return Ticket{}, ErrRejected
	}
	w := &waiter{seats: seats, queue: q, ready: make(chan struct{})}
	q.waiting = append(q.waiting, w)
	q.queued += seats
	l.waiting++
	l.mu.Unlock()

	timer := time.NewTimer(maxWait)
	defer timer.Stop()
	var err error
	select {
	case <-w.ready:
	case <-timer.C:
		err = ErrTimedOut
	case <-ctx.Done():
		err = ctx.Err()
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	switch {
	case w.admitted:
		return Ticket{level: l, queue: w.queue, seats: seats}, nil
	case w.rejected:
		return Ticket{}, ErrRejected
	}
	for i, o := range q.waiting {
		if o == w {
			q.waiting = append(q.waiting[:i], q.waiting[i+1:]...)
			q.queued -= seats
			l.waiting--
			break
		}
	}
	return Ticket{}, err
}

// dispatchLocked admits waiting requests while seats are free.
func (l *Level) dispatchLocked() {
	for l.waiting > 0 {
		n := len(l.queues)
		best := -1
		for k := range n {
			i := (l.next + k) % n
			q := l.queues[i]
			if len(q.waiting) > 0 && (best < 0 || q.executing < l.queues[best].executing) {
				best = i
			}
		}
		q := l.queues[best]
		w := q.waiting[0]
		if l.inUse+w.seats > l.limit {
			return
		}
		q.waiting[0] = nil
		q.waiting = q.waiting[1:]
		q.queued -= w.seats
		l.waiting--
		l.inUse += w.seats
		q.executing += w.seats
		w.admitted = true
		close(w.ready)
		l.next = best + 1
	}
}
