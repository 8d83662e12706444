package bench_test

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"skiff/internal/agent/sim"
	"skiff/internal/bench"
	"skiff/internal/server"
	"skiff/internal/server/servertest"
)

func TestMain(m *testing.M) { servertest.Main(m) }

// The smoke test's size; the full load test is -scale.nodes 100
// -scale.pods-per-node 30 (3,000 pods).
var (
	smokeNodes       = flag.Int("scale.nodes", 100, "simulated nodes of TestScaleSmoke")
	smokePodsPerNode = flag.Int("scale.pods-per-node", 30, "pods per node of TestScaleSmoke")
	smokeTimeout     = flag.Duration("scale.timeout", 10*time.Minute, "how long each phase of TestScaleSmoke may take")
	smokeOut         = flag.String("scale.out", "", "write TestScaleSmoke's report and plot to this directory")
)

// TestScaleSmoke runs the load test against an in-process control plane
// (scheduler and controllers) with simulated nodes, and checks that
// every phase completes and that nothing the test created is left. It
// asserts no timings: the report is logged for a person to read.
func TestScaleSmoke(t *testing.T) {
	s := servertest.Start(t, func(c *server.Config) { c.Disable = []string{"dashboard"} })
	ctx := t.Context()

	simConfig := rest.CopyConfig(s.Config)
	simConfig.QPS = -1
	simClient, err := kubernetes.NewForConfig(simConfig)
	if err != nil {
		t.Fatal(err)
	}
	cluster, err := sim.NewCluster(sim.ClusterConfig{
		Client: simClient, Nodes: *smokeNodes, NamePrefix: "scale-",
		StartDelay: 10 * time.Millisecond, RunTime: time.Hour, Logger: servertest.Logger(),
	})
	if err != nil {
		t.Fatal(err)
	}
	simCtx, stopSim := context.WithCancel(context.Background())
	simDone := make(chan struct{})
	go func() { defer close(simDone); _ = cluster.Run(simCtx) }()
	t.Cleanup(func() { stopSim(); <-simDone })
	servertest.Wait(t, "simulated nodes Ready", func(ctx context.Context) (bool, error) {
		nodes, err := s.Client.CoreV1().Nodes().List(ctx, metav1.ListOptions{LabelSelector: sim.LabelSimulated})
		if err != nil {
			return false, err
		}
		ready := 0
		for _, n := range nodes.Items {
			for _, c := range n.Status.Conditions {
				if c.Type == corev1.NodeReady && c.Status == corev1.ConditionTrue {
					ready++
				}
			}
		}
		return ready == *smokeNodes, fmt.Errorf("%d of %d nodes Ready", ready, *smokeNodes)
	})

	var progress bytes.Buffer
	var progressOut io.Writer = &progress
	if testing.Verbose() {
		progressOut = os.Stderr
	}
	start := time.Now()
	res, err := bench.RunScale(ctx, bench.ScaleConfig{
		Rest: s.Config, Nodes: *smokeNodes, PodsPerNode: *smokePodsPerNode,
		Prefix: "smoke", PhaseTimeout: *smokeTimeout, Progress: progressOut,
	})
	t.Logf("progress:\n%s", progress.String())
	if err != nil {
		t.Fatalf("load test: %v", err)
	}
	var report bytes.Buffer
	res.WriteReport(&report)
	t.Logf("load test took %v:\n%s", time.Since(start).Round(time.Second), report.String())

	var phases []string
	for _, p := range res.Phases {
		phases = append(phases, p.Name)
	}
	if want := []string{"create", "scale-up", "scale-down", "rollout", "delete"}; fmt.Sprint(phases) != fmt.Sprint(want) {
		t.Errorf("phases = %v, want %v", phases, want)
	}
	if res.Plan.Pods != *smokeNodes**smokePodsPerNode {
		t.Errorf("planned %d pods, want %d", res.Plan.Pods, *smokeNodes**smokePodsPerNode)
	}
	if len(res.API) == 0 || res.Startup.Count < res.Plan.Pods {
		t.Errorf("measured %d kinds of API call and %d pod startups, want some and at least %d", len(res.API), res.Startup.Count, res.Plan.Pods)
	}

	// Everything is gone: the namespaces and every object that was in them.
	for _, ns := range res.Plan.Namespaces {
		if _, err := s.Client.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{}); err == nil {
			t.Errorf("namespace %s is left", ns)
		}
	}
	sel := metav1.ListOptions{LabelSelector: "bench.skiff.dev/run=smoke"}
	pods, err := s.Client.CoreV1().Pods("").List(ctx, sel)
	if err != nil || len(pods.Items) > 0 {
		t.Errorf("pods left: %d (%v)", len(pods.Items), err)
	}
	deps, err := s.Client.AppsV1().Deployments("").List(ctx, sel)
	if err != nil || len(deps.Items) > 0 {
		t.Errorf("deployments left: %d (%v)", len(deps.Items), err)
	}
	rss, err := s.Client.AppsV1().ReplicaSets("").List(ctx, metav1.ListOptions{})
	if err != nil || len(rss.Items) > 0 {
		t.Errorf("replicasets left: %d (%v)", len(rss.Items), err)
	}
	cms, err := s.Client.CoreV1().ConfigMaps("").List(ctx, sel)
	if err != nil || len(cms.Items) > 0 {
		t.Errorf("configmaps left: %d (%v)", len(cms.Items), err)
	}

	if *smokeOut != "" {
		if err := os.MkdirAll(*smokeOut, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(*smokeOut, "report.txt"), report.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		var svg bytes.Buffer
		if err := res.WriteSVG(&svg); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(*smokeOut, "scale.svg"), svg.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
