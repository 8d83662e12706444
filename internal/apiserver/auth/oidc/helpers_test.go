package oidc

import (
	"context"
	"encoding/base64"
	"log/slog"
	"sync"
	"testing"
	"time"
)

func base64URL(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

// errorCounter is a slog handler that counts error records.
type errorCounter struct {
	mu sync.Mutex
	n  int
}

func (e *errorCounter) Enabled(context.Context, slog.Level) bool { return true }
func (e *errorCounter) WithAttrs([]slog.Attr) slog.Handler       { return e }
func (e *errorCounter) WithGroup(string) slog.Handler            { return e }
func (e *errorCounter) Handle(_ context.Context, r slog.Record) error {
	if r.Level >= slog.LevelError {
		e.mu.Lock()
		e.n++
		e.mu.Unlock()
	}
	return nil
}

func (e *errorCounter) count() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.n
}

// waitFor polls cond until it holds, or fails the test after 10 s.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met")
		}
		time.Sleep(10 * time.Millisecond)
	}
}
