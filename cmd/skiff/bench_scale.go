package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"skiff/internal/bench"
)

// simPrefix names the simulated nodes bench scale starts.
const simPrefix = "bench-scale-sim-"

func newBenchScaleCommand() *cobra.Command {
	var (
		kubeconfig, dataDir, outDir, image string
		simNodes, serverPID                int
		startDelay                         time.Duration
		cfg                                bench.ScaleConfig
	)
	cmd := &cobra.Command{
		Use:   "scale",
		Short: "Load test: workloads of every kind created, scaled, rolled out and deleted; API latency against the SLO",
		Long: `Runs a load test shaped like clusterloader2's: it sizes the load at --nodes ×
--pods-per-node pods, spread over --namespaces (one per 100 nodes by
default), a quarter of each namespace's pods in workloads of 250, a quarter
in workloads of 30 and half in workloads of 5. Most are Deployments; each
size has a StatefulSet (not the big one) and a Job, the first namespace a
DaemonSet; every workload has a ConfigMap and a Secret, half of the
Deployments a Service. Then, waiting each time until every pod is Running
from the current template (or every object gone):

  create      the namespaces and everything in them
  scale-up    Deployments and StatefulSets to 1.5 times their size
  scale-down  them to half their size
  rollout     a change to the pod template of every Deployment,
              StatefulSet and DaemonSet
  delete      the namespaces

Creates, scale-ups and rollouts are paced to --pod-rate new pods a second in
all, as clusterloader2 paces its load to a throughput: pod startup latency
measures the control plane at a rate it sustains, not a backlog. 0 sends
every change at once.

It reports, per phase, its duration and objects/s and pods/s; per verb,
resource and scope, the client-side API call latency (p50/p90/p99) with
PASS or FAIL against upstream's SLO (p99 within 1s for mutating calls and
gets, 5s for lists in a namespace, 30s for lists across the cluster) and
the margin; pod startup latency (the watch event showing a pod created to
the one showing it Running); and the API server's resident memory and CPU
(peak and steady) when it runs on this host. --out gets report.txt and
scale.svg (every call's latency and the server's memory over time).

Without --kubeconfig it starts its own "skiff server" (no node agent) in
--data-dir and --sim-nodes simulated nodes (default: --nodes, else 100).
With --kubeconfig it loads that cluster: its nodes, or --sim-nodes
simulated ones it starts against it (and deletes afterwards). The pods'
--image must keep running; on simulated nodes nothing runs.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			out := cmd.OutOrStdout()
			ownServer := kubeconfig == ""
			if ownServer {
				srv, err := spawnBenchServer(ctx, dataDir)
				if err != nil {
					return err
				}
				defer srv.stop()
				kubeconfig, serverPID = srv.kubeconfig, srv.pid
				fmt.Fprintf(out, "server pid %d ready in %v\n", serverPID, srv.startup.Round(time.Millisecond))
				if simNodes == 0 {
					simNodes = cfg.Nodes
					if simNodes == 0 {
						simNodes = 100
					}
				}
			}
			rc, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
			if err != nil {
				return fmt.Errorf("--kubeconfig: %w", err)
			}
			if simNodes > 0 {
				stop, err := startSim(ctx, kubeconfig, simNodes, startDelay, !ownServer)
				if err != nil {
					return err
				}
				defer stop()
				if cfg.Nodes == 0 {
					cfg.Nodes = simNodes
				}
			}
			cfg.Rest, cfg.ServerPID, cfg.Image, cfg.Progress = rc, serverPID, image, cmd.ErrOrStderr()
			res, runErr := bench.RunScale(ctx, cfg)
			if res == nil {
				return runErr
			}
			var report bytes.Buffer
			res.WriteReport(&report)
			fmt.Fprint(out, report.String())
			if outDir != "" {
				if err := writeScaleOutput(outDir, report.Bytes(), res); err != nil {
					return err
				}
				fmt.Fprintf(out, "wrote %s and %s\n", filepath.Join(outDir, "report.txt"), filepath.Join(outDir, "scale.svg"))
			}
			return runErr
		},
	}
	f := cmd.Flags()
	f.StringVar(&kubeconfig, "kubeconfig", "", "load this cluster instead of a server started for the run")
	f.StringVar(&dataDir, "data-dir", "", "data dir of the server it starts (default: a new temporary one)")
	f.IntVar(&simNodes, "sim-nodes", 0, `start this many simulated nodes ("skiff sim") for the run`)
	f.DurationVar(&startDelay, "start-delay", time.Second, "how long the simulated nodes take to start a pod's containers")
	f.IntVar(&cfg.Nodes, "nodes", 0, "nodes the load is sized for (default: --sim-nodes, else the cluster's Ready schedulable nodes)")
	f.IntVar(&cfg.PodsPerNode, "pods-per-node", 30, "pods per node, 1 to 30")
	f.IntVar(&cfg.Namespaces, "namespaces", 0, "namespaces to spread the load over (default: one per 100 nodes)")
	f.StringVar(&image, "image", "skiff/pause:1", "image of every container; it must not exit")
	f.IntVar(&cfg.Clients, "clients", 16, "requests in flight at once")
	f.Float64Var(&cfg.PodRate, "pod-rate", 50, "new pods a second the changes that start pods are paced to (0: unpaced)")
	f.DurationVar(&cfg.PhaseTimeout, "timeout", 15*time.Minute, "how long each phase may take to complete")
	f.IntVar(&serverPID, "server-pid", 0, "process id of the API server, to sample its memory and CPU (when it runs on this host)")
	f.StringVar(&outDir, "out", "bench-scale", "directory for report.txt and scale.svg (empty: none)")
	return cmd
}

// startSim runs "skiff sim" from this binary with nodes simulated nodes
// against kubeconfig and waits until they are all Ready. stop ends it
// and, if removeNodes, deletes its Nodes.
func startSim(ctx context.Context, kubeconfig string, nodes int, startDelay time.Duration, removeNodes bool) (stop func(), err error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	rc, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		return nil, err
	}
	rc.QPS = -1
	client, err := kubernetes.NewForConfig(rc)
	if err != nil {
		return nil, err
	}
	// Pods that never end: Job pods keep running as they would with a
	// container that does not exit.
	sim := exec.Command(self, "sim", "--nodes", strconv.Itoa(nodes), "--kubeconfig", kubeconfig,
		"--name-prefix", simPrefix, "--start-delay", startDelay.String(), "--run-time", "8760h", "--log-level", "error")
	sim.Stderr = os.Stderr
	if err := sim.Start(); err != nil {
		return nil, fmt.Errorf("start skiff sim: %w", err)
	}
	stop = func() {
		_ = sim.Process.Signal(os.Interrupt)
		_ = sim.Wait()
		if removeNodes {
			cleanup, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			list, err := client.CoreV1().Nodes().List(cleanup, metav1.ListOptions{})
			if err != nil {
				return
			}
			for _, n := range list.Items {
				if strings.HasPrefix(n.Name, simPrefix) {
					_ = client.CoreV1().Nodes().Delete(cleanup, n.Name, metav1.DeleteOptions{})
				}
			}
		}
	}
	deadline := time.Now().Add(5 * time.Minute)
	for {
		ready, err := readySimNodes(ctx, client)
		if err == nil && ready >= nodes {
			return stop, nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			stop()
			return nil, fmt.Errorf("simulated nodes: %d of %d Ready after 5 minutes (last error: %v)", ready, nodes, err)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

func readySimNodes(ctx context.Context, client kubernetes.Interface) (int, error) {
	list, err := client.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		return 0, err
	}
	ready := 0
	for _, n := range list.Items {
		if !strings.HasPrefix(n.Name, simPrefix) {
			continue
		}
		for _, c := range n.Status.Conditions {
			if c.Type == corev1.NodeReady && c.Status == corev1.ConditionTrue {
				ready++
			}
		}
	}
	return ready, nil
}

func writeScaleOutput(dir string, report []byte, res *bench.ScaleResult) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "report.txt"), report, 0o644); err != nil {
		return err
	}
	f, err := os.Create(filepath.Join(dir, "scale.svg"))
	if err != nil {
		return err
	}
	if err := res.WriteSVG(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
