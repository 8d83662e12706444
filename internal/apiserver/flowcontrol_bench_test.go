package apiserver

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"skiff/internal/apiserver/auth"
	"skiff/internal/apiserver/registry/all"
	"skiff/internal/etcd"
	"skiff/internal/etcd/etcdtest"
	etcdstore "skiff/internal/storage/etcd"
)

// benchUser authenticates every request as one ordinary user (so that
// flow control queues it: global-default) and allows it everything.
type benchUser struct{ u *auth.User }

func (b benchUser) Authenticate(*http.Request) (*auth.User, bool, error) { return b.u, true, nil }
func (benchUser) Authorize(context.Context, auth.Attributes) (bool, string, error) {
	return true, "", nil
}

// newBenchServer starts an API server on e; with bu set, it
// authenticates and authorizes every request as bu, so that flow control
// classifies and admits it; without, requests skip both.
func newBenchServer(b testing.TB, e *etcd.Server, bu *benchUser, configure ...func(*Config)) *Server {
	scheme, err := NewScheme()
	if err != nil {
		b.Fatal(err)
	}
	cfg := Config{Store: etcdstore.New(e.Client(), etcdstore.Config{}), Scheme: scheme, Resources: all.Resources()}
	if bu != nil {
		cfg.Authenticator, cfg.Authorizer = bu, bu
	}
	for _, f := range configure {
		f(&cfg)
	}
	s, err := New(cfg)
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = s.Run(ctx); close(done) }()
	b.Cleanup(func() { cancel(); <-done })
	<-s.Cache().Ready()
	if err := s.Bootstrap(ctx, BootstrapConfig{Port: 6443}); err != nil {
		b.Fatal(err)
	}
	return s
}

// BenchmarkAPFFilter measures what flow control (deadline,
// classification, headers, seat) adds to a GET of a ConfigMap served
// from the watch cache: "filter" is the filter alone, "get" a whole
// request through it, "get-unfiltered" the same request on a server that
// neither authenticates nor flow-controls.
func BenchmarkAPFFilter(b *testing.B) {
	e := etcdtest.StartServer(b, nil)
	bu := &benchUser{u: &auth.User{Name: "alice", Groups: []string{"system:authenticated"}}}
	s := newBenchServer(b, e, bu)
	plain := newBenchServer(b, e, nil)
	rec := httptest.NewRecorder()
	create := httptest.NewRequest(http.MethodPost, "/api/v1/namespaces/default/configmaps",
		strings.NewReader(`{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"bench"},"data":{"k":"v"}}`))
	create.Header.Set("Content-Type", "application/json")
	s.ServeHTTP(rec, create)
	if rec.Code != http.StatusCreated {
		b.Fatalf("create: %d %s", rec.Code, rec.Body.String())
	}
	get := httptest.NewRequest(http.MethodGet, "/api/v1/namespaces/default/configmaps/bench?resourceVersion=0", nil)

	b.Run("filter", func(b *testing.B) {
		info := parseRequestInfo(get)
		w := httptest.NewRecorder()
		b.ReportAllocs()
		for b.Loop() {
			_, a, ok := s.flowControl(w, get, bu.u, &info)
			if !ok {
				b.Fatal("refused")
			}
			s.finish(a)
		}
	})
	for _, tc := range []struct {
		name string
		s    *Server
	}{{"get", s}, {"get-unfiltered", plain}} {
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				w := httptest.NewRecorder()
				tc.s.ServeHTTP(w, get)
				if w.Code != http.StatusOK {
					b.Fatalf("get: %d %s", w.Code, w.Body.String())
				}
			}
		})
	}
}
