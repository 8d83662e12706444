package manager_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"skiff/internal/controller"
	"skiff/internal/controller/manager"
	"skiff/internal/server"
)

// probe is a controller that records which manager runs it.
type probe struct {
	mu      sync.Mutex
	running map[string]bool
	max     int
	started chan string
}

func (p *probe) ctor(identity string) controller.Constructor {
	return func(controller.Context) (controller.Controller, error) { return probeController{p, identity}, nil }
}

type probeController struct {
	p        *probe
	identity string
}

func (c probeController) Run(ctx context.Context, workers int) error {
	c.p.mu.Lock()
	c.p.running[c.identity] = true
	c.p.max = max(c.p.max, len(c.p.running))
	c.p.mu.Unlock()
	c.p.started <- c.identity
	<-ctx.Done()
	c.p.mu.Lock()
	delete(c.p.running, c.identity)
	c.p.mu.Unlock()
	return nil
}

func TestNewValidates(t *testing.T) {
	noop := func(controller.Context) (controller.Controller, error) { return nil, nil }
	tests := []struct {
		name    string
		cfg     manager.Config
		wantErr bool
	}{
		{"no REST config", manager.Config{}, true},
		{"unknown disabled controller", manager.Config{RESTConfig: &rest.Config{Host: "https://x"}, Controllers: map[string]controller.Constructor{"a": noop}, Disabled: map[string]bool{"b": true}}, true},
		{"ok", manager.Config{RESTConfig: &rest.Config{Host: "https://x"}, Controllers: map[string]controller.Constructor{"a": noop, "b": noop}, Disabled: map[string]bool{"b": true}}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := manager.New(tt.cfg)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tt.wantErr)
			}
			if err == nil {
				if diff := cmp.Diff([]string{"a"}, m.Enabled()); diff != "" {
					t.Errorf("enabled (-want +got):\n%s", diff)
				}
			}
		})
	}
}

// TestOneLeaderActs runs two managers on one API server: only one runs
// its controllers at a time, and the other takes over when it stops.
func TestOneLeaderActs(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := server.Start(ctx, server.Config{
		DataDir: t.TempDir(), BindAddress: "127.0.0.1", HTTPSPort: -1,
		EtcdClientURL: "http://127.0.0.1:0", EtcdPeerURL: "http://127.0.0.1:0",
		DisableAgent: true, Disable: server.Components,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	rc, err := clientcmd.BuildConfigFromFlags("", s.AdminKubeconfig())
	if err != nil {
		t.Fatal(err)
	}
	p := &probe{running: map[string]bool{}, started: make(chan string, 2)}
	start := func(identity string) (stop func()) {
		m, err := manager.New(manager.Config{
			RESTConfig: rc, Identity: identity,
			Controllers:   map[string]controller.Constructor{"probe": p.ctor(identity)},
			LeaseDuration: 3 * time.Second, RenewDeadline: 2 * time.Second, RetryPeriod: 100 * time.Millisecond,
		})
		if err != nil {
			t.Fatal(err)
		}
		mctx, mcancel := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() {
			defer close(done)
			if err := m.Run(mctx); err != nil && mctx.Err() == nil {
				t.Errorf("manager %s: %v", identity, err)
			}
		}()
		return func() { mcancel(); <-done }
	}
	stopA := start("a")
	if got := <-p.started; got != "a" {
		t.Fatalf("first leader = %s, want a", got)
	}
	stopB := start("b")
	defer stopB()
	stopA()
	if got := <-p.started; got != "b" {
		t.Fatalf("second leader = %s, want b", got)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.max != 1 {
		t.Errorf("%d managers ran controllers at once, want 1", p.max)
	}
}
