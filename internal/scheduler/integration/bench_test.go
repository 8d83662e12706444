package integration

import (
	"context"
	"os"
	"runtime/pprof"
	"strconv"
	"testing"

	"k8s.io/client-go/rest"

	"skiff/internal/bench"
	"skiff/internal/scheduler"
	"skiff/internal/server/servertest"
)

// TestBenchScheduler runs the scheduler benchmark in process when
// SKIFF_SCHED_BENCH is set ("nodes,pods,mix", e.g. "1000,2000,plain");
// SKIFF_SCHED_PROFILE names a CPU profile file for the scheduling phase.
func TestBenchScheduler(t *testing.T) {
	spec := os.Getenv("SKIFF_SCHED_BENCH")
	if spec == "" {
		t.Skip("set SKIFF_SCHED_BENCH=nodes,pods,mix to run")
	}
	var parts [3]string
	n := 0
	for i, j := 0, 0; i <= len(spec) && n < 3; i++ {
		if i == len(spec) || spec[i] == ',' {
			parts[n] = spec[j:i]
			n++
			j = i + 1
		}
	}
	nodes, _ := strconv.Atoi(parts[0])
	pods, _ := strconv.Atoi(parts[1])
	rc := servertest.Start(t, nil).Config
	cfg := bench.SchedulerConfig{Rest: rc, Nodes: nodes, Pods: pods, Mix: parts[2]}
	cfg.StartScheduler = func(ctx context.Context) (func(), error) {
		src := rest.CopyConfig(rc)
		src.QPS, src.Burst = -1, 10000
		s, err := scheduler.New(scheduler.Config{Rest: src, DisableLeaderElection: true})
		if err != nil {
			return nil, err
		}
		if path := os.Getenv("SKIFF_SCHED_PROFILE"); path != "" {
			f, err := os.Create(path)
			if err != nil {
				return nil, err
			}
			if err := pprof.StartCPUProfile(f); err != nil {
				return nil, err
			}
			ctx, cancel := context.WithCancel(ctx)
			done := make(chan error, 1)
			go func() { done <- s.Run(ctx) }()
			return func() { pprof.StopCPUProfile(); f.Close(); cancel(); <-done }, nil
		}
		ctx, cancel := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() { done <- s.Run(ctx) }()
		return func() { cancel(); <-done }, nil
	}
	res, err := bench.RunScheduler(context.Background(), cfg, testWriter{t})
	if err != nil {
		t.Fatal(err)
	}
	t.Log(res.String())
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(string(p))
	return len(p), nil
}
