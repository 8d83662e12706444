package kit

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/utils/clock"
)

// SyncFunc reconciles the object named by key ("namespace/name" or
// "name"). It must be idempotent; a returned error requeues the key with
// rate limiting.
type SyncFunc func(ctx context.Context, key string) error

// Loop is one controller's work queue and its workers.
type Loop struct {
	name   string
	queue  workqueue.TypedRateLimitingInterface[string]
	clock  clock.WithTicker
	mu     sync.Mutex
	timers map[string]time.Time // armed AddAfter wake-ups by key
	sync   SyncFunc
	logger *slog.Logger
	synced []cache.InformerSynced
}

// NewLoop returns a loop named name that runs sync for every queued key.
// clk drives AddAfter (nil means the real clock); retries after errors
// always back off on the real clock, so a fake clock in a test times only
// what the controller schedules itself.
func NewLoop(name string, clk clock.WithTicker, logger *slog.Logger, sync SyncFunc) *Loop {
	if clk == nil {
		clk = clock.RealClock{}
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	q := workqueue.NewTypedRateLimitingQueueWithConfig(
		workqueue.DefaultTypedControllerRateLimiter[string](),
		workqueue.TypedRateLimitingQueueConfig[string]{Name: name},
	)
	return &Loop{name: name, queue: q, clock: clk, timers: map[string]time.Time{}, sync: sync, logger: logger.With("controller", name)}
}

// WaitFor adds informers whose caches must sync before workers start.
func (l *Loop) WaitFor(synced ...cache.InformerSynced) { l.synced = append(l.synced, synced...) }

// Enqueue queues obj's key; obj may be a tombstone.
func (l *Loop) Enqueue(obj any) {
	key, err := cache.DeletionHandlingMetaNamespaceKeyFunc(obj)
	if err != nil {
		return
	}
	l.queue.Add(key)
}

// Add queues a key.
func (l *Loop) Add(key string) { l.queue.Add(key) }

// AddAfter queues a key once d has passed on the loop's clock.
func (l *Loop) AddAfter(key string, d time.Duration) {
	if d <= 0 {
		l.queue.Add(key)
		return
	}
	if de, ok := l.clock.(clock.WithDelayedExecution); ok {
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
			l.queue.Add(key)
		})
		return
	}
	l.queue.AddAfter(key, d)
}

// Len reports how many keys wait in the queue.
func (l *Loop) Len() int { return l.queue.Len() }

// Handler returns an event handler that queues fn(obj) for every add,
// update and delete; fn maps an object to the keys to reconcile.
func Handler(fn func(obj any)) cache.ResourceEventHandlerFuncs {
	return cache.ResourceEventHandlerFuncs{
		AddFunc:    fn,
		UpdateFunc: func(_, newObj any) { fn(newObj) },
		DeleteFunc: func(obj any) {
			if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
				obj = t.Obj
			}
			fn(obj)
		},
	}
}

// Run waits for the informer caches, runs workers goroutines and blocks
// until ctx is done; it returns after they have stopped.
func (l *Loop) Run(ctx context.Context, workers int) error {
	if workers < 1 {
		workers = 1
	}
	defer l.queue.ShutDown()
	if !cache.WaitForCacheSync(ctx.Done(), l.synced...) {
		return fmt.Errorf("run %s: caches did not sync: %w", l.name, ctx.Err())
	}
	l.logger.Info("controller started", "workers", workers)
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for l.next(ctx) {
			}
		})
	}
	<-ctx.Done()
	l.queue.ShutDown()
	wg.Wait()
	return nil
}

func (l *Loop) next(ctx context.Context) bool {
	key, quit := l.queue.Get()
	if quit {
		return false
	}
	defer l.queue.Done(key)
	if err := l.sync(ctx, key); err != nil {
		if ctx.Err() == nil {
			l.logger.Warn("sync failed", "key", key, "err", err)
		}
		l.queue.AddRateLimited(key)
		return true
	}
	l.queue.Forget(key)
	return true
}
