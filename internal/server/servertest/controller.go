package servertest

import (
	"context"
	"slices"
	"sync"
	"testing"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/metadata/metadatainformer"
	"k8s.io/client-go/tools/events"
	"k8s.io/utils/clock"

	"skiff/internal/controller"
	"skiff/internal/server"
)

// RunController builds a controller with ctor on informer factories of
// its own, starts them and the controller with two workers, and stops
// both when the test ends. clk is the controller's clock, nil for the real
// one. It returns the recorder of the controller's events.
func (s *Server) RunController(t testing.TB, ctor controller.Constructor, clk clock.WithTicker) *Recorder {
	t.Helper()
	if clk == nil {
		clk = clock.RealClock{}
	}
	rec := &Recorder{}
	md, err := metadata.NewForConfig(s.Config)
	if err != nil {
		t.Fatalf("metadata client: %v", err)
	}
	inf := informers.NewSharedInformerFactory(s.Client, 0)
	mdInf := metadatainformer.NewSharedInformerFactory(md, 0)
	c, err := ctor(controller.Context{
		Client: s.Client, Dynamic: s.Dynamic(t), Metadata: md,
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

// RunBuiltin runs the built-in controller name (as --disable takes it)
// like RunController, for a test outside the controller's own package
// (components never import a controller).
func (s *Server) RunBuiltin(t testing.TB, name string) *Recorder {
	t.Helper()
	ctor, ok := server.BuiltinController(s.DataDir, name)
	if !ok {
		t.Fatalf("no built-in controller %q", name)
	}
	return s.RunController(t, ctor, nil)
}

// Recorder keeps the events a controller records, for a test to check.
type Recorder struct {
	mu      sync.Mutex
	reasons []string
}

var _ events.EventRecorder = (*Recorder)(nil)

// Eventf records the event's reason.
func (r *Recorder) Eventf(_, _ runtime.Object, _, reason, _, _ string, _ ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.reasons = append(r.reasons, reason)
}

// Reasons returns the reasons recorded so far, in order.
func (r *Recorder) Reasons() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.reasons)
}

// Has reports whether an event with reason was recorded.
func (r *Recorder) Has(reason string) bool { return slices.Contains(r.Reasons(), reason) }
