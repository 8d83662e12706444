package servertest

import (
	"context"
	"log/slog"
	"os"
	"testing"
	"time"
)

// WaitTimeout is how long Wait polls before it fails the test. It is long
// because it only matters when a test is about to fail: a loaded machine
// must not turn a slow pass into a failure.
const WaitTimeout = time.Minute

// waitInterval is the polling period of Wait.
const waitInterval = 20 * time.Millisecond

// Wait polls cond until it returns true, and fails the test if it has not
// after WaitTimeout. An error from cond does not stop the wait: the last
// one is reported on failure, so a condition may return why it does not
// hold yet (a message seen, a count) as its error.
func Wait(t testing.TB, what string, cond func(ctx context.Context) (bool, error)) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), WaitTimeout)
	defer cancel()
	tick := time.NewTicker(waitInterval)
	defer tick.Stop()
	var last error
	for {
		ok, err := cond(ctx)
		if ok {
			return
		}
		last = err
		select {
		case <-ctx.Done():
			t.Fatalf("timed out waiting for %s (last error: %v)", what, last)
		case <-tick.C:
		}
	}
}

// Logger returns the test logger: silent, or debug-level text on stderr
// when the environment sets SKIFF_TEST_LOG.
func Logger() *slog.Logger {
	if os.Getenv("SKIFF_TEST_LOG") == "" {
		return slog.New(slog.DiscardHandler)
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
}
