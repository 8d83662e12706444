package reconcile

import "sync"

// SlowStartInitialBatchSize is the first batch of SlowStartBatch.
const SlowStartInitialBatchSize = 1

// SlowStartBatch calls fn count times in batches of doubling size (1, 2, 4,
// ...), running each batch concurrently, and stops after the first batch
// with an error. A quota or admission failure thus costs one call, not
// count. It returns how many calls succeeded and the first error.
func SlowStartBatch(count, initial int, fn func() error) (int, error) {
	remaining := count
	successes := 0
	for size := min(remaining, initial); size > 0; size = min(2*size, remaining) {
		errs := make(chan error, size)
		var wg sync.WaitGroup
		for range size {
			wg.Go(func() {
				if err := fn(); err != nil {
					errs <- err
				}
			})
		}
		wg.Wait()
		successes += size - len(errs)
		if len(errs) > 0 {
			return successes, <-errs
		}
		remaining -= size
	}
	return successes, nil
}
