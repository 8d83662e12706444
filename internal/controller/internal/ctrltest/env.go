package ctrltest

import (
	"context"
	"log/slog"
	"os"
	"sync"
	"testing"
	"time"

	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/metadata/metadatainformer"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/utils/clock"

	"skiff/internal/controller"
	"skiff/internal/server"
)

// Env is one in-process control plane.
type Env struct {
	// Client is an admin client.
	Client kubernetes.Interface
	// Config is the admin client configuration.
	Config *rest.Config
}

// Start starts a control plane without controllers, scheduler or agent,
// and stops it at cleanup.
func Start(t *testing.T) *Env {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := server.Start(ctx, server.Config{
		DataDir: t.TempDir(), BindAddress: "127.0.0.1", HTTPSPort: -1,
		EtcdClientURL: "http://127.0.0.1:0", EtcdPeerURL: "http://127.0.0.1:0",
		// The test runs the controller under test itself.
		DisableAgent: true, Disable: []string{"controllers", "scheduler"}, Logger: Logger(),
	})
	if err != nil {
		t.Fatalf("start server: %v", err)
	}
	t.Cleanup(s.Close)
	rc, err := clientcmd.BuildConfigFromFlags("", s.AdminKubeconfig())
	if err != nil {
		t.Fatalf("load kubeconfig: %v", err)
	}
	rc.QPS, rc.Burst = 1000, 1000
	return &Env{Client: kubernetes.NewForConfigOrDie(rc), Config: rc}
}

// Logger returns a logger that writes to stderr when SKIFF_TEST_LOG is set.
func Logger() *slog.Logger {
	if os.Getenv("SKIFF_TEST_LOG") == "" {
		return slog.New(slog.DiscardHandler)
	}
	return slog.New(slog.NewTextHandler(os.Stderr, nil))
}

// Run builds a controller with ctor on a fresh informer factory, starts
// the informers and the controller, and stops both at cleanup. clk may be
// nil for the real clock. It returns the controller's event recorder.
func (e *Env) Run(t *testing.T, ctor controller.Constructor, clk clock.WithTicker) *Recorder {
	t.Helper()
	if clk == nil {
		clk = clock.RealClock{}
	}
	rec := &Recorder{}
	inf := informers.NewSharedInformerFactory(e.Client, 0)
	md := metadata.NewForConfigOrDie(e.Config)
	mdInf := metadatainformer.NewSharedInformerFactory(md, 0)
	c, err := ctor(controller.Context{
		Client: e.Client, Dynamic: dynamic.NewForConfigOrDie(e.Config), Metadata: md,
		Informers: inf, MetadataInformers: mdInf, Events: rec,
		Clock: clk, Logger: Logger(),
	})
	if err != nil {
		t.Fatalf("construct controller: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	inf.Start(ctx.Done())
	mdInf.Start(ctx.Done())
	var wg sync.WaitGroup
	wg.Go(func() {
		if err := c.Run(ctx, 2); err != nil && ctx.Err() == nil {
			t.Errorf("run controller: %v", err)
		}
	})
	t.Cleanup(func() {
		cancel()
		wg.Wait()
		inf.Shutdown()
		mdInf.Shutdown()
	})
	return rec
}

// Wait polls cond until it returns true, failing the test after a minute.
// It waits for a condition, never for time.
func Wait(t *testing.T, what string, cond func() (bool, error)) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	var lastErr error
	for time.Now().Before(deadline) {
		ok, err := cond()
		if ok {
			return
		}
		lastErr = err
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("timed out waiting for %s (last error: %v)", what, lastErr)
}
