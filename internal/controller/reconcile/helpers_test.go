package reconcile

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"
	testingclock "k8s.io/utils/clock/testing"
)

func TestSlowStartByIndex(t *testing.T) {
	boom := errors.New("boom")
	tests := []struct {
		name      string
		count     int
		failAt    int // index that fails, -1 for none
		wantOK    int
		wantCalls int
		wantErr   error
	}{
		{name: "all succeed", count: 10, failAt: -1, wantOK: 10, wantCalls: 10},
		{name: "first fails: one call", count: 10, failAt: 0, wantOK: 0, wantCalls: 1, wantErr: boom},
		{name: "fails in third batch", count: 20, failAt: 4, wantOK: 6, wantCalls: 7, wantErr: boom},
		{name: "none", count: 0, failAt: -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var calls atomic.Int32
			ok, err := SlowStart(tt.count, func(i int) error {
				calls.Add(1)
				if i == tt.failAt {
					return boom
				}
				return nil
			})
			got := []any{ok, int(calls.Load()), err}
			if diff := cmp.Diff([]any{tt.wantOK, tt.wantCalls, tt.wantErr}, got, cmp.Comparer(func(a, b error) bool { return errors.Is(a, b) })); diff != "" {
				t.Errorf("SlowStart (-want +got):\n%s", diff)
			}
		})
	}
}

func TestExpectationsNamed(t *testing.T) {
	clk := testingclock.NewFakeClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	e := NewExpectations(clk)
	e.ExpectCreate("k", "a")
	e.ExpectDelete("k", "b")
	steps := []bool{e.Satisfied("k")}
	e.CreationObserved("k", "a")
	e.CreationObserved("k", "a") // a duplicate event changes nothing
	steps = append(steps, e.Satisfied("k"))
	e.DeletionObserved("k", "b")
	steps = append(steps, e.Satisfied("k"))
	e.ExpectCreate("k", "c")
	clk.Step(ExpectationsTimeout + time.Second)
	steps = append(steps, e.Satisfied("k"))
	if diff := cmp.Diff([]bool{false, false, true, true}, steps); diff != "" {
		t.Errorf("Satisfied after each step (-want +got):\n%s", diff)
	}
}

func TestLoopWakeUpsUseClock(t *testing.T) {
	clk := testingclock.NewFakeClock(time.Now())
	var mu sync.Mutex
	var seen []string
	synced := make(chan struct{}, 10)
	l := NewLoop("test", clk, nil, func(_ context.Context, key string) (Result, error) {
		mu.Lock()
		seen = append(seen, key)
		mu.Unlock()
		synced <- struct{}{}
		return Result{}, nil
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- l.Run(ctx, 1) }()
	l.AddAfter("later", time.Minute)
	l.AddAfter("later", 2*time.Minute) // an earlier wake-up is armed already
	l.Add("now")
	<-synced
	for !clk.HasWaiters() {
		time.Sleep(time.Millisecond)
	}
	clk.Step(time.Minute)
	<-synced
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"now", "later"}, seen); diff != "" {
		t.Errorf("synced keys (-want +got):\n%s", diff)
	}
}

// TestLoopRetriesThenRequeues checks that a failing key is retried past the
// fifteen attempts the bare workqueue pattern gives up after, and that a
// sync's RequeueAfter brings the key back once that long has passed. The
// bubble's fake time runs the real clock's backoff.
func TestLoopRetriesThenRequeues(t *testing.T) {
	const failures = 20
	synctest.Test(t, func(t *testing.T) {
		start := time.Now()
		var at []time.Duration // when each sync ran, since start
		l := NewLoop("test", nil, nil, func(_ context.Context, key string) (Result, error) {
			at = append(at, time.Since(start))
			switch n := len(at); {
			case n <= failures:
				return Result{}, errors.New("boom")
			case n == failures+1:
				return Result{RequeueAfter: time.Hour}, nil
			}
			return Result{}, nil
		})
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error)
		go func() { done <- l.Run(ctx, 1) }()
		l.Add("k")
		time.Sleep(24 * time.Hour)
		cancel()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		if len(at) != failures+2 {
			t.Fatalf("synced %d times, want %d", len(at), failures+2)
		}
		if got := at[failures+1] - at[failures]; got != time.Hour {
			t.Errorf("resynced %v after the RequeueAfter, want 1h", got)
		}
		for i := 1; i <= failures; i++ {
			if at[i] <= at[i-1] {
				t.Errorf("retry %d ran at %v, not after the previous attempt at %v", i, at[i], at[i-1])
			}
		}
	})
}
