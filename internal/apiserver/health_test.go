package apiserver

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"skiff/internal/etcd/etcdtest"
)

// TestHealthChecks: /readyz, /livez and /healthz run every check and
// fail with the failing one named; ?verbose lists them all; /readyz/NAME
// runs one, and an unknown name is a 404.
func TestHealthChecks(t *testing.T) {
	var failing atomic.Bool
	s := newBenchServer(t, etcdtest.StartServer(t, nil), nil, func(c *Config) {
		c.HealthChecks = []HealthCheck{{Name: "etcd", Check: func(context.Context) error {
			if failing.Load() {
				return errors.New("no leader")
			}
			return nil
		}}}
	})
	get := func(path string) (int, string) {
		w := httptest.NewRecorder()
		s.ServeHTTP(w, httptest.NewRequest(http.MethodGet, path, nil))
		return w.Code, w.Body.String()
	}
	for path, want := range map[string]string{
		"/readyz":         "ok",
		"/readyz?verbose": "[+]ping ok\n[+]etcd ok\n[+]watch-cache ok\nreadyz check passed\n",
		"/livez/etcd":     "ok",
	} {
		if code, body := get(path); code != http.StatusOK || body != want {
			t.Errorf("%s: %d %q, want %q", path, code, body, want)
		}
	}
	if code, _ := get("/readyz/nope"); code != http.StatusNotFound {
		t.Errorf("/readyz/nope: %d", code)
	}
	failing.Store(true)
	for _, path := range []string{"/readyz", "/healthz", "/readyz/etcd"} {
		code, body := get(path)
		if code != http.StatusInternalServerError || !strings.Contains(body, "[-]etcd failed: reason withheld\n") || strings.Contains(body, "no leader") {
			t.Errorf("%s with etcd failing: %d %q", path, code, body)
		}
	}
	if code, _ := get("/readyz/ping"); code != http.StatusOK {
		t.Errorf("/readyz/ping with etcd failing: %d", code)
	}
}
