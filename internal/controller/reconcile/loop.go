package reconcile

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/utils/clock"
)

// Result is what a sync asks of its loop, besides the retry an error
// brings.
type Result struct {
	// RequeueAfter, when positive, syncs the key again once it has passed
	// (on the loop's clock), even if no event arrives: a deadline, a TTL,
	// a periodic resync. Zero means wait for the next event. It holds
	// when the sync also failed: the retry or the wake-up, whichever
	// comes first, syncs the key.
	RequeueAfter time.Duration
}

// SyncFunc reconciles the object named by key ("namespace/name" or "name"
// for string keys). It must be idempotent and level-based: it re-reads
// state rather than trusting the event that queued the key. A returned
// error retries the key with rate limiting, for as long as it fails; the
// Result says when to sync the key again otherwise.
type SyncFunc[K comparable] func(ctx context.Context, key K) (Result, error)

// TypedLoop is the whole work loop of a controller: a rate-limited,
// de-duplicating queue of keys of type K, the sync function its workers
// run, a logger and the informers it waits for. Most controllers key by
// "namespace/name" and use Loop; the garbage collector keys by object
// reference.
//
// A failing key is retried with client-go's default controller rate
// limiter (per-key exponential backoff from 5ms to 1000s, and an overall
// token bucket) until it succeeds or the loop stops; it is never dropped,
// and every failure is logged. A sync's RequeueAfter queues the key again
// after that delay; the sync itself never re-adds its key.
type TypedLoop[K comparable] struct {
	name   string
	q      workqueue.TypedRateLimitingInterface[K]
	sync   SyncFunc[K]
	logger *slog.Logger
	synced []cache.InformerSynced

	// clock times the wake-ups syncs ask for, so that a fake clock in a
	// test controls them.
	clock  clock.WithTicker
	mu     sync.Mutex
	timers map[K]time.Time // armed wake-ups by key
}

// NewTypedLoop returns a loop named name that runs sync for every queued
// key. clk times RequeueAfter (nil means the real clock); retries after
// errors always back off on the real clock, so a fake clock in a test
// times only what the controller asks for itself. A nil logger discards.
func NewTypedLoop[K comparable](name string, clk clock.WithTicker, logger *slog.Logger, sync SyncFunc[K]) *TypedLoop[K] {
	if clk == nil {
		clk = clock.RealClock{}
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &TypedLoop[K]{
		name: name,
		q: workqueue.NewTypedRateLimitingQueueWithConfig(
			workqueue.DefaultTypedControllerRateLimiter[K](),
			workqueue.TypedRateLimitingQueueConfig[K]{Name: name}),
		sync:   sync,
		logger: logger.With("controller", name),
		clock:  clk,
		timers: map[K]time.Time{},
	}
}

// WaitFor adds informers whose caches must sync before workers start.
func (l *TypedLoop[K]) WaitFor(synced ...cache.InformerSynced) {
	l.synced = append(l.synced, synced...)
}

// Add enqueues key now.
func (l *TypedLoop[K]) Add(key K) { l.q.Add(key) }

// AddAfter enqueues key once d has passed on the loop's clock. Of several
// pending wake-ups for one key the earliest wins.
func (l *TypedLoop[K]) AddAfter(key K, d time.Duration) {
	de, ok := l.clock.(clock.WithDelayedExecution)
	if !ok {
		l.q.AddAfter(key, d)
		return
	}
	if d <= 0 {
		l.q.Add(key)
		return
	}
	at := l.clock.Now().Add(d)
	l.mu.Lock()
	defer l.mu.Unlock()
	if prev, ok := l.timers[key]; ok && !prev.After(at) {
		return // an earlier wake-up is already armed
	}
	l.timers[key] = at
	de.AfterFunc(d, func() {
		l.mu.Lock()
		if l.timers[key].Equal(at) {
			delete(l.timers, key)
		}
		l.mu.Unlock()
		l.q.Add(key)
	})
}

// Run waits for the informer caches, runs workers goroutines (at least
// one) and blocks until ctx is done; it returns after they have stopped.
func (l *TypedLoop[K]) Run(ctx context.Context, workers int) error {
	if !cache.WaitForCacheSync(ctx.Done(), l.synced...) {
		l.q.ShutDown()
		return fmt.Errorf("run %s: caches did not sync: %w", l.name, ctx.Err())
	}
	workers = max(workers, 1)
	l.logger.Info("controller started", "workers", workers)
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for l.next(ctx) {
			}
		})
	}
	<-ctx.Done()
	l.q.ShutDown()
	wg.Wait()
	return nil
}

// next syncs one key and requeues it as its outcome asks; it returns false
// once the queue is shut down.
func (l *TypedLoop[K]) next(ctx context.Context) bool {
	key, quit := l.q.Get()
	if quit {
		return false
	}
	defer l.q.Done(key)
	res, err := l.sync(ctx, key)
	if err != nil {
		if ctx.Err() == nil {
			l.logger.Warn("sync failed", "key", key, "err", err)
		}
		l.q.AddRateLimited(key)
	} else {
		l.q.Forget(key)
	}
	if res.RequeueAfter > 0 {
		l.AddAfter(key, res.RequeueAfter)
	}
	return true
}

// Loop is a TypedLoop keyed by "namespace/name" (or "name" for
// cluster-scoped objects), the key informers use.
type Loop struct {
	*TypedLoop[string]
}

// NewLoop returns a loop named name keyed by namespace/name; see
// NewTypedLoop.
func NewLoop(name string, clk clock.WithTicker, logger *slog.Logger, sync SyncFunc[string]) *Loop {
	return &Loop{NewTypedLoop(name, clk, logger, sync)}
}

// Enqueue queues obj's key; obj may be a tombstone.
func (l *Loop) Enqueue(obj any) {
	key, err := cache.DeletionHandlingMetaNamespaceKeyFunc(obj)
	if err != nil {
		return
	}
	l.Add(key)
}

// Handler returns an event handler that queues fn(obj) for every add,
// update and delete; fn maps an object to the keys to reconcile.
func Handler(fn func(obj any)) cache.ResourceEventHandlerFuncs {
	return cache.ResourceEventHandlerFuncs{
		AddFunc:    fn,
		UpdateFunc: func(_, newObj any) { fn(newObj) },
		DeleteFunc: func(obj any) { fn(Tombstone(obj)) },
	}
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
