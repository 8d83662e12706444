package node

import (
	"context"
	"errors"
	"log/slog"
	"testing"
)

// TestRetryJoin: a server still starting (5xx, unreachable) is asked again;
// a refusal (4xx) is final.
func TestRetryJoin(t *testing.T) {
	logger := slog.New(slog.DiscardHandler)
	calls := 0
	err := RetryJoin(context.Background(), logger, func() error {
		calls++
		if calls == 1 {
			return &RefusedError{Code: 500, Msg: "policy not in place yet"}
		}
		return nil
	})
	if err != nil || calls != 2 {
		t.Errorf("after a 500: %v, %d calls; want success on the second", err, calls)
	}
	calls = 0
	err = RetryJoin(context.Background(), logger, func() error {
		calls++
		return &RefusedError{Code: 403, Msg: "name taken"}
	})
	var refused *RefusedError
	if !errors.As(err, &refused) || calls != 1 {
		t.Errorf("a 403: %v after %d calls; want it returned at once", err, calls)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := RetryJoin(ctx, logger, func() error { return errors.New("connection refused") }); err == nil {
		t.Error("a cancelled join succeeded")
	}
}
