package agent

import (
	"context"
	"sync"
	"time"

	"k8s.io/client-go/util/workqueue"
)

// itemKind is what a work item does.
type itemKind uint8

const (
	itemLease itemKind = iota
	itemNode
	itemPod
	itemProbe
	// itemStatic scans the static pod manifests or syncs mirror pods.
	itemStatic
	// itemHousekeeping sweeps orphaned pods and collects garbage.
	itemHousekeeping
)

// item is one unit of work of one agent. Equal items queued twice run
// once (the queue deduplicates), which is what makes requeues cheap.
type item struct {
	a    *Agent
	kind itemKind
	key  string
}

// Pool runs the work of any number of agents on a fixed number of
// goroutines. Its delaying queue keeps every timer (heartbeats, back-off,
// probes) in one heap, so an idle agent costs memory only.
type Pool struct {
	workers int
	queue   workqueue.TypedDelayingInterface[item]
}

// NewPool returns a pool with workers goroutines (4 when 0 or less). Run
// must be called for any agent using it to make progress.
func NewPool(workers int) *Pool {
	if workers <= 0 {
		workers = 4
	}
	return &Pool{
		workers: workers,
		queue:   workqueue.NewTypedDelayingQueueWithConfig(workqueue.TypedDelayingQueueConfig[item]{Name: ""}),
	}
}

// Run processes items until ctx is done, then shuts the queue down and
// returns after the workers have stopped.
func (p *Pool) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	for range p.workers {
		wg.Go(func() {
			for {
				it, quit := p.queue.Get()
				if quit {
					return
				}
				it.a.process(ctx, it)
				p.queue.Done(it)
			}
		})
	}
	<-ctx.Done()
	p.queue.ShutDown()
	wg.Wait()
	return nil
}

func (p *Pool) add(it item)                       { p.queue.Add(it) }
func (p *Pool) addAfter(it item, d time.Duration) { p.queue.AddAfter(it, d) }
