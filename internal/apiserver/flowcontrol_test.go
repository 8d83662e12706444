package apiserver

import (
	"context"
	"errors"
	"net/http/httptest"
	"testing"
	"time"

	"skiff/internal/apiserver/auth"
	"skiff/internal/etcd/etcdtest"
	etcdstore "skiff/internal/storage/etcd"
)

func TestDeadlineContext(t *testing.T) {
	u := &auth.User{Name: "alice"}
	// Unwaited: no timer, the user and the deadline are there.
	far := time.Now().Add(time.Hour)
	c := &deadlineContext{Context: context.Background(), deadline: far, user: u}
	if d, ok := c.Deadline(); !ok || !d.Equal(far) {
		t.Errorf("Deadline = %v %v", d, ok)
	}
	if userFrom(c) != u {
		t.Error("user not carried")
	}
	c.stop()
	if c.inner != nil {
		t.Error("a timer was started for a context nobody waited on")
	}
	select {
	case <-c.Done():
	default:
		t.Error("stopped context not done")
	}
	if !errors.Is(c.Err(), context.Canceled) {
		t.Errorf("Err after stop = %v", c.Err())
	}

	// Waited on: it ends at its deadline.
	c = &deadlineContext{Context: context.Background(), deadline: time.Now().Add(10 * time.Millisecond)}
	<-c.Done()
	if !errors.Is(c.Err(), context.DeadlineExceeded) {
		t.Errorf("Err = %v, want DeadlineExceeded", c.Err())
	}
	c.stop()

	// A parent's earlier deadline wins.
	parent, cancel := context.WithDeadline(context.Background(), time.Now().Add(time.Minute))
	defer cancel()
	c = &deadlineContext{Context: parent, deadline: far}
	if d, _ := c.Deadline(); !d.Before(far) {
		t.Errorf("Deadline = %v, want the parent's", d)
	}
	c.stop()
}

func TestRequestTimeoutAndLongRunning(t *testing.T) {
	s := &Server{cfg: Config{RequestTimeout: time.Minute}}
	for q, want := range map[string]time.Duration{"": time.Minute, "?timeout=5s": 5 * time.Second,
		"?timeout=5m": time.Minute, "?timeout=bad": time.Minute, "?timeout=-1s": time.Minute} {
		if got := s.requestTimeout(httptest.NewRequest("GET", "/api/v1/pods"+q, nil)); got != want {
			t.Errorf("%q: timeout %v, want %v", q, got, want)
		}
	}
	for path, want := range map[string]bool{
		"/api/v1/namespaces/a/pods":                        false,
		"/api/v1/namespaces/a/pods?watch=true":             true,
		"/api/v1/watch/namespaces/a/pods":                  true,
		"/api/v1/namespaces/a/pods/p/exec?command=ls":      true,
		"/api/v1/namespaces/a/pods/p/log":                  true,
		"/api/v1/namespaces/a/pods/p/status":               false,
		"/api/v1/namespaces/a/services/s:80/proxy/x":       true,
		"/apis/apps/v1/namespaces/a/deployments/d/scale":   false,
		"/api/v1/namespaces/a/pods/p/portforward?ports=80": true,
	} {
		info := parseRequestInfo(httptest.NewRequest("GET", path, nil))
		if got := longRunning(&info); got != want {
			t.Errorf("%s: long-running %v, want %v", path, got, want)
		}
	}
}

// TestInflightLimit: with priority and fairness off, reads and writes
// have their own slots; a request that finds none free is refused with
// 429 and Retry-After at once, and a finished request frees its slot.
// Watches and system:masters take none.
func TestInflightLimit(t *testing.T) {
	scheme, err := NewScheme()
	if err != nil {
		t.Fatal(err)
	}
	e := etcdtest.StartServer(t, nil)
	s, err := New(Config{Store: etcdstore.New(e.Client(), etcdstore.Config{}), Scheme: scheme, MaxInflight: &[2]int{1, 1}})
	if err != nil {
		t.Fatal(err)
	}
	alice := &auth.User{Name: "alice", Groups: []string{"system:authenticated"}}
	admin := &auth.User{Name: "admin", Groups: []string{"system:masters", "system:authenticated"}}
	admit := func(u *auth.User, method, path string) (seatGrant, int) {
		t.Helper()
		r := httptest.NewRequest(method, path, nil)
		info := parseRequestInfo(r)
		w := httptest.NewRecorder()
		_, a, ok := s.flowControl(w, r, u, &info)
		if !ok {
			if w.Header().Get("Retry-After") != "1" {
				t.Errorf("%s %s refused without Retry-After: %v", method, path, w.Header())
			}
			return a, w.Code
		}
		return a, 0
	}
	read, code := admit(alice, "GET", "/api/v1/namespaces/a/pods")
	if code != 0 {
		t.Fatalf("first read refused: %d", code)
	}
	if _, code := admit(alice, "GET", "/api/v1/namespaces/a/pods/p"); code != 429 {
		t.Errorf("second read: %d, want 429", code)
	}
	write, code := admit(alice, "POST", "/api/v1/namespaces/a/pods")
	if code != 0 {
		t.Errorf("a write with a read in flight refused: %d", code)
	}
	if _, code := admit(alice, "DELETE", "/api/v1/namespaces/a/pods/p"); code != 429 {
		t.Errorf("second write: %d, want 429", code)
	}
	watch, code := admit(alice, "GET", "/api/v1/namespaces/a/pods?watch=true")
	if code != 0 {
		t.Errorf("watch refused: %d", code)
	}
	adminRead, code := admit(admin, "GET", "/api/v1/namespaces/a/pods")
	if code != 0 {
		t.Errorf("system:masters refused: %d", code)
	}
	for _, a := range []seatGrant{read, write, watch, adminRead} {
		s.finish(a)
	}
	again, code := admit(alice, "GET", "/api/v1/namespaces/a/pods/p")
	if code != 0 {
		t.Errorf("read after the first finished refused: %d", code)
	}
	s.finish(again)
}
