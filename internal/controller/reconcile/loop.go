package reconcile

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"k8s.io/client-go/tools/cache"
	"k8s.io/utils/clock"
)

// SyncFunc reconciles the object named by key ("namespace/name" or
// "name"). It must be idempotent; a returned error requeues the key with
// rate limiting.
type SyncFunc func(ctx context.Context, key string) error

// Loop is a Queue of string keys bound to one sync function, a logger and
// the informers it waits for: the whole work loop of a controller. Unlike a
// bare Queue it retries a failing key for as long as it fails.
type Loop struct {
	*Queue[string]
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
	q := NewQueue[string](name)
	q.retryForever = true
	q.clock = clk
	q.timers = map[string]time.Time{}
	return &Loop{Queue: q, sync: sync, logger: logger.With("controller", name)}
}

// WaitFor adds informers whose caches must sync before workers start.
func (l *Loop) WaitFor(synced ...cache.InformerSynced) { l.synced = append(l.synced, synced...) }

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

// Run waits for the informer caches, runs workers goroutines and blocks
// until ctx is done; it returns after they have stopped.
func (l *Loop) Run(ctx context.Context, workers int) error {
	if !cache.WaitForCacheSync(ctx.Done(), l.synced...) {
		l.q.ShutDown()
		return fmt.Errorf("run %s: caches did not sync: %w", l.name, ctx.Err())
	}
	l.logger.Info("controller started", "workers", max(workers, 1))
	l.Queue.Run(ctx, workers, l.logger, l.sync)
	return nil
}
