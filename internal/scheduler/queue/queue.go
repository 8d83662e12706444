package queue

import (
	"container/heap"
	"context"
	"errors"
	"sync"
	"time"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/clock"

	"skiff/internal/scheduler/framework"
)

// ErrClosed is returned by Pop after Close.
var ErrClosed = errors.New("scheduling queue closed")

// Config configures a Queue.
type Config struct {
	// Less orders the active queue.
	Less func(a, b *framework.QueuedPodInfo) bool
	// InitialBackoff and MaxBackoff bound the per-pod backoff (1 s, 10 s).
	InitialBackoff, MaxBackoff time.Duration
	// MaxUnschedulable is how long a pod stays parked without an event
	// (5 min).
	MaxUnschedulable time.Duration
	// Clock defaults to the real clock.
	Clock clock.WithTicker
}

type location int

const (
	inActive location = iota + 1
	inBackoff
	inUnschedulable
	inFlight
)

type entry struct {
	qpi   *framework.QueuedPodInfo
	where location
	index int
}

// Queue is safe for concurrent use.
type Queue struct {
	cfg  Config
	mu   sync.Mutex
	cond *sync.Cond

	active  *podHeap
	backoff *podHeap
	pods    map[types.UID]*entry
	// unschedulable indexes the parked pods, so that cluster events scan
	// only them.
	unschedulable map[types.UID]*entry
	// updatedInFlight holds the newest object of pods updated while they
	// were being scheduled.
	updatedInFlight map[types.UID]*v1.Pod

	schedulingCycle  int64
	moveRequestCycle int64
	closed           bool

	nominated     map[string][]*framework.PodInfo
	nominatedNode map[types.UID]string
}

// New returns an empty queue.
func New(cfg Config) *Queue {
	if cfg.InitialBackoff == 0 {
		cfg.InitialBackoff = time.Second
	}
	if cfg.MaxBackoff == 0 {
		cfg.MaxBackoff = 10 * time.Second
	}
	if cfg.MaxUnschedulable == 0 {
		cfg.MaxUnschedulable = 5 * time.Minute
	}
	if cfg.Clock == nil {
		cfg.Clock = clock.RealClock{}
	}
	q := &Queue{
		cfg:             cfg,
		pods:            map[types.UID]*entry{},
		unschedulable:   map[types.UID]*entry{},
		updatedInFlight: map[types.UID]*v1.Pod{},
		nominated:       map[string][]*framework.PodInfo{},
		nominatedNode:   map[types.UID]string{},
	}
	q.cond = sync.NewCond(&q.mu)
	q.active = &podHeap{less: cfg.Less}
	q.backoff = &podHeap{less: func(a, b *framework.QueuedPodInfo) bool {
		return q.backoffExpiry(a).Before(q.backoffExpiry(b))
	}}
	return q
}

func (q *Queue) backoffDuration(qpi *framework.QueuedPodInfo) time.Duration {
	d := q.cfg.InitialBackoff
	for i := 1; i < qpi.Attempts; i++ {
		d *= 2
		if d >= q.cfg.MaxBackoff {
			return q.cfg.MaxBackoff
		}
	}
	return d
}

func (q *Queue) backoffExpiry(qpi *framework.QueuedPodInfo) time.Time {
	return time.Unix(0, qpi.Timestamp).Add(q.backoffDuration(qpi))
}

// Add queues a new pending pod, or updates it if already queued.
func (q *Queue) Add(pod *v1.Pod) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.updateNominatedLocked(pod)
	if e, ok := q.pods[pod.UID]; ok {
		q.updateLocked(e, pod)
		return
	}
	now := q.cfg.Clock.Now().UnixNano()
	qpi := &framework.QueuedPodInfo{PodInfo: framework.NewPodInfo(pod), Timestamp: now, InitialAttemptTimestamp: now}
	q.pushLocked(&entry{qpi: qpi}, inActive)
}

// Update replaces a queued pod with its new version; a parked pod whose
// spec changed gets another try.
func (q *Queue) Update(pod *v1.Pod) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.updateNominatedLocked(pod)
	e, ok := q.pods[pod.UID]
	if !ok {
		q.mu.Unlock()
		q.Add(pod)
		q.mu.Lock()
		return
	}
	q.updateLocked(e, pod)
}

func (q *Queue) updateLocked(e *entry, pod *v1.Pod) {
	old := e.qpi.Pod
	switch e.where {
	case inFlight:
		q.updatedInFlight[pod.UID] = pod
	case inActive:
		e.qpi.Update(pod)
		heap.Fix(q.active, e.index)
	case inBackoff:
		e.qpi.Update(pod)
		heap.Fix(q.backoff, e.index)
	case inUnschedulable:
		e.qpi.Update(pod)
		if old.Generation != pod.Generation || !equalLabels(old.Labels, pod.Labels) {
			q.removeLocked(e)
			q.pushLocked(e, inActive)
		}
	}
}

func equalLabels(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// Delete drops a pod from the queue.
func (q *Queue) Delete(pod *v1.Pod) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.deleteNominatedLocked(pod.UID)
	if e, ok := q.pods[pod.UID]; ok {
		q.removeLocked(e)
	}
	delete(q.updatedInFlight, pod.UID)
}

func (q *Queue) pushLocked(e *entry, where location) {
	e.where = where
	q.pods[e.qpi.Pod.UID] = e
	switch where {
	case inActive:
		heap.Push(q.active, e)
		q.cond.Signal()
	case inBackoff:
		heap.Push(q.backoff, e)
	case inUnschedulable:
		q.unschedulable[e.qpi.Pod.UID] = e
	}
}

func (q *Queue) removeLocked(e *entry) {
	switch e.where {
	case inActive:
		heap.Remove(q.active, e.index)
	case inBackoff:
		heap.Remove(q.backoff, e.index)
	case inUnschedulable:
		delete(q.unschedulable, e.qpi.Pod.UID)
	}
	delete(q.pods, e.qpi.Pod.UID)
}

// Pop blocks until a pod is active (or ctx ends, or Close) and hands it to
// the caller, who must end the attempt with Done or AddUnschedulable.
func (q *Queue) Pop(ctx context.Context) (*framework.QueuedPodInfo, int64, error) {
	stop := context.AfterFunc(ctx, func() {
		q.mu.Lock()
		q.cond.Broadcast()
		q.mu.Unlock()
	})
	defer stop()
	q.mu.Lock()
	defer q.mu.Unlock()
	for q.active.Len() == 0 {
		if q.closed {
			return nil, 0, ErrClosed
		}
		if ctx.Err() != nil {
			return nil, 0, ctx.Err()
		}
		q.cond.Wait()
	}
	e := heap.Pop(q.active).(*entry)
	e.where = inFlight
	e.qpi.Attempts++
	q.schedulingCycle++
	return e.qpi, q.schedulingCycle, nil
}

// Done ends an attempt that placed the pod.
func (q *Queue) Done(uid types.UID) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if e, ok := q.pods[uid]; ok && e.where == inFlight {
		delete(q.pods, uid)
	}
	delete(q.updatedInFlight, uid)
}

// AddUnschedulable ends a failed attempt. With backoff (errors, or an
// event that arrived during the attempt) the pod waits out its backoff;
// otherwise it is parked until a cluster event.
func (q *Queue) AddUnschedulable(qpi *framework.QueuedPodInfo, cycle int64, backoff bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	e, ok := q.pods[qpi.Pod.UID]
	if !ok || e.where != inFlight {
		// Deleted while in flight.
		return
	}
	qpi.Timestamp = q.cfg.Clock.Now().UnixNano()
	if p, ok := q.updatedInFlight[qpi.Pod.UID]; ok {
		delete(q.updatedInFlight, qpi.Pod.UID)
		qpi.Update(p)
		// Changed during the attempt: worth a quick retry.
		backoff = true
	}
	delete(q.pods, qpi.Pod.UID)
	if backoff || q.moveRequestCycle >= cycle {
		q.pushLocked(e, inBackoff)
		return
	}
	q.pushLocked(e, inUnschedulable)
}

// Requeue puts an in-flight pod whose binding failed back, with backoff.
func (q *Queue) Requeue(pod *v1.Pod, qpi *framework.QueuedPodInfo) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if _, ok := q.pods[pod.UID]; ok {
		return
	}
	qpi.Timestamp = q.cfg.Clock.Now().UnixNano()
	qpi.Update(pod)
	q.pushLocked(&entry{qpi: qpi}, inBackoff)
}

// MoveAll moves parked pods for which pass returns true (all when pass is
// nil) to the active queue, or to backoff if theirs has not expired.
func (q *Queue) MoveAll(pass func(*framework.QueuedPodInfo) bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	now := q.cfg.Clock.Now()
	for _, e := range q.unschedulable {
		if pass != nil && !pass(e.qpi) {
			continue
		}
		q.removeLocked(e)
		if q.backoffExpiry(e.qpi).After(now) {
			q.pushLocked(e, inBackoff)
		} else {
			q.pushLocked(e, inActive)
		}
	}
	q.moveRequestCycle = q.schedulingCycle
}

// Run advances backoff and flushes long-parked pods until ctx is done.
func (q *Queue) Run(ctx context.Context) {
	t := q.cfg.Clock.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C():
			q.flush()
		}
	}
}

func (q *Queue) flush() {
	q.mu.Lock()
	defer q.mu.Unlock()
	now := q.cfg.Clock.Now()
	for q.backoff.Len() > 0 {
		e := q.backoff.items[0]
		if q.backoffExpiry(e.qpi).After(now) {
			break
		}
		heap.Pop(q.backoff)
		q.pushLocked(e, inActive)
	}
	for _, e := range q.unschedulable {
		if now.Sub(time.Unix(0, e.qpi.Timestamp)) > q.cfg.MaxUnschedulable {
			q.removeLocked(e)
			q.pushLocked(e, inActive)
		}
	}
}

// Close wakes Pop callers with ErrClosed.
func (q *Queue) Close() {
	q.mu.Lock()
	q.closed = true
	q.cond.Broadcast()
	q.mu.Unlock()
}

// Len returns the number of pods known to the queue (all sub-queues and
// in flight).
func (q *Queue) Len() (active, backoff, unschedulable int) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for _, e := range q.pods {
		switch e.where {
		case inActive:
			active++
		case inBackoff:
			backoff++
		case inUnschedulable:
			unschedulable++
		}
	}
	return
}

// Nominate records that preemption made room for pod on nodeName.
func (q *Queue) Nominate(pod *v1.Pod, nodeName string) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.deleteNominatedLocked(pod.UID)
	if nodeName == "" {
		return
	}
	q.nominatedNode[pod.UID] = nodeName
	q.nominated[nodeName] = append(q.nominated[nodeName], framework.NewPodInfo(pod))
}

func (q *Queue) updateNominatedLocked(pod *v1.Pod) {
	n := pod.Status.NominatedNodeName
	if cur, ok := q.nominatedNode[pod.UID]; ok && (n == "" || cur == n) {
		// Keep what preemption set until the pod's status catches up.
		return
	}
	q.deleteNominatedLocked(pod.UID)
	if n != "" {
		q.nominatedNode[pod.UID] = n
		q.nominated[n] = append(q.nominated[n], framework.NewPodInfo(pod))
	}
}

func (q *Queue) deleteNominatedLocked(uid types.UID) {
	n, ok := q.nominatedNode[uid]
	if !ok {
		return
	}
	delete(q.nominatedNode, uid)
	list := q.nominated[n]
	for i, pi := range list {
		if pi.Pod.UID == uid {
			list = append(list[:i:i], list[i+1:]...)
			break
		}
	}
	if len(list) == 0 {
		delete(q.nominated, n)
	} else {
		q.nominated[n] = list
	}
}

// ForgetNomination drops a pod's nomination (it was bound or deleted).
func (q *Queue) ForgetNomination(uid types.UID) {
	q.mu.Lock()
	q.deleteNominatedLocked(uid)
	q.mu.Unlock()
}

// NominatedSnapshot copies the nominations (nil when there are none), so
// a scheduling cycle can read them without taking the queue's lock once
// per node.
func (q *Queue) NominatedSnapshot() map[string][]*framework.PodInfo {
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.nominated) == 0 {
		return nil
	}
	out := make(map[string][]*framework.PodInfo, len(q.nominated))
	for n, list := range q.nominated {
		out[n] = append([]*framework.PodInfo(nil), list...)
	}
	return out
}

// NominatedPodsForNode returns the pods nominated to a node.
func (q *Queue) NominatedPodsForNode(nodeName string) []*framework.PodInfo {
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.nominated[nodeName]) == 0 {
		return nil
	}
	return append([]*framework.PodInfo(nil), q.nominated[nodeName]...)
}

type podHeap struct {
	items []*entry
	less  func(a, b *framework.QueuedPodInfo) bool
}

func (h *podHeap) Len() int           { return len(h.items) }
func (h *podHeap) Less(i, j int) bool { return h.less(h.items[i].qpi, h.items[j].qpi) }
func (h *podHeap) Swap(i, j int) {
	h.items[i], h.items[j] = h.items[j], h.items[i]
	h.items[i].index = i
	h.items[j].index = j
}
func (h *podHeap) Push(x any) {
	e := x.(*entry)
	e.index = len(h.items)
	h.items = append(h.items, e)
}
func (h *podHeap) Pop() any {
	n := len(h.items)
	e := h.items[n-1]
	h.items[n-1] = nil
	h.items = h.items[:n-1]
	return e
}
