package reconcile

import "sync"

// SlowStartInitialBatch is the first batch size of SlowStart, as upstream.
const SlowStartInitialBatch = 1

// SlowStart calls fn count times in batches of 1, 2, 4, ... run in
// parallel, stopping after the first batch that has an error, so a
// failing request (quota, admission) costs one call and not count. fn gets
// the call's index. It returns how many calls succeeded and the first
// error by index.
func SlowStart(count int, fn func(i int) error) (int, error) {
	done := 0
	for batch := min(count, SlowStartInitialBatch); count > 0; batch = min(2*batch, count) {
		errs := make([]error, batch)
		var wg sync.WaitGroup
		for j := range batch {
			wg.Go(func() { errs[j] = fn(done + j) })
		}
		wg.Wait()
		ok := 0
		var first error
		for _, err := range errs {
			if err == nil {
				ok++
			} else if first == nil {
				first = err
			}
		}
		done += batch
		count -= batch
		if first != nil {
			return done - batch + ok, first
		}
	}
	return done, nil
}
