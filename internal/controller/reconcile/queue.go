package reconcile

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/utils/clock"
)

// maxRetries bounds how often one key is retried with backoff before it is
// dropped; the next event or resync brings it back.
const maxRetries = 15

// Queue is a rate-limited, de-duplicating queue of keys with its workers.
type Queue[T comparable] struct {
	name string
	q    workqueue.TypedRateLimitingInterface[T]
	// retryForever keeps retrying failed keys instead of dropping them
	// after maxRetries, and logs every failure as a warning (Loop).
	retryForever bool
	// clock, when set, drives AddAfter so a fake clock in a test controls
	// the wake-ups a controller schedules; nil leaves them to the queue.
	clock  clock.WithTicker
	mu     sync.Mutex
	timers map[T]time.Time // armed AddAfter wake-ups by key
}

// NewQueue returns a queue named after its controller.
func NewQueue[T comparable](name string) *Queue[T] {
	return &Queue[T]{
		name: name,
		q: workqueue.NewTypedRateLimitingQueueWithConfig(
			workqueue.DefaultTypedControllerRateLimiter[T](),
			workqueue.TypedRateLimitingQueueConfig[T]{Name: name}),
	}
}

// Add enqueues key now.
func (q *Queue[T]) Add(key T) { q.q.Add(key) }

// AddAfter enqueues key once d has passed, on the queue's clock if it has
// one. Of several pending wake-ups for one key the earliest wins.
func (q *Queue[T]) AddAfter(key T, d time.Duration) {
	de, ok := q.clock.(clock.WithDelayedExecution)
	if !ok {
		q.q.AddAfter(key, d)
		return
	}
	if d <= 0 {
		q.q.Add(key)
		return
	}
	at := q.clock.Now().Add(d)
	q.mu.Lock()
	defer q.mu.Unlock()
	if prev, ok := q.timers[key]; ok && !prev.After(at) {
		return // an earlier wake-up is already armed
	}
	q.timers[key] = at
	de.AfterFunc(d, func() {
		q.mu.Lock()
		if q.timers[key].Equal(at) {
			delete(q.timers, key)
		}
		q.mu.Unlock()
		q.q.Add(key)
	})
}

// Len is the number of keys waiting.
func (q *Queue[T]) Len() int { return q.q.Len() }

// Run starts workers that call fn for each key and blocks until ctx is
// done and every worker has returned. Failed keys are retried with
// per-key exponential backoff.
func (q *Queue[T]) Run(ctx context.Context, workers int, logger *slog.Logger, fn func(ctx context.Context, key T) error) {
	if workers < 1 {
		workers = 1
	}
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for q.next(ctx, logger, fn) {
			}
		})
	}
	<-ctx.Done()
	q.q.ShutDown()
	wg.Wait()
}

func (q *Queue[T]) next(ctx context.Context, logger *slog.Logger, fn func(ctx context.Context, key T) error) bool {
	key, quit := q.q.Get()
	if quit {
		return false
	}
	defer q.q.Done(key)
	err := fn(ctx, key)
	switch {
	case err == nil:
		q.q.Forget(key)
	case q.retryForever:
		if ctx.Err() == nil {
			logger.Warn("sync failed", "key", key, "err", err)
		}
		q.q.AddRateLimited(key)
	case ctx.Err() != nil:
	case q.q.NumRequeues(key) < maxRetries:
		logger.Debug("sync failed, retrying", "queue", q.name, "key", key, "err", err)
		q.q.AddRateLimited(key)
	default:
		logger.Warn("sync failed, dropping key", "queue", q.name, "key", key, "err", err)
		q.q.Forget(key)
	}
	return true
}

// KeyOf returns the namespace/name key of an informer object, including
// tombstones, or "" when obj has no meta.
func KeyOf(obj any) string {
	key, err := cache.DeletionHandlingMetaNamespaceKeyFunc(obj)
	if err != nil {
		runtime.HandleError(err)
		return ""
	}
	return key
}

// Tombstone unwraps a DeletedFinalStateUnknown into the object it holds.
func Tombstone(obj any) any {
	if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		return t.Obj
	}
	return obj
}
