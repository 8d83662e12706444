package reconcile

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
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

func TestLoopAddAfterUsesClock(t *testing.T) {
	clk := testingclock.NewFakeClock(time.Now())
	var mu sync.Mutex
	var seen []string
	synced := make(chan struct{}, 10)
	l := NewLoop("test", clk, nil, func(_ context.Context, key string) error {
		mu.Lock()
		seen = append(seen, key)
		mu.Unlock()
		synced <- struct{}{}
		return nil
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
