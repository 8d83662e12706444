package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"runtime/pprof"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"skiff/internal/bench"
	"skiff/internal/scheduler"
	"skiff/internal/server"
)

func newBenchSchedulerCommand() *cobra.Command {
	var (
		kubeconfig, cpuProfile, mix string
		nodes, pods, clients        int
	)
	cmd := &cobra.Command{
		Use:   "scheduler",
		Short: "Scheduling throughput (pods/s) and latency with N nodes and M pods",
		Long: `Creates N nodes (32 CPU, 128 GiB, five zones, every tenth tainted) and M pods,
and reports pods/s to bound and p50/p99 latency.

Without --kubeconfig it starts an in-process control plane with no controllers
and no node agent, creates every pod first, then starts skiff's scheduler and
measures it alone (a backlog run; --cpuprofile profiles that phase). With
--kubeconfig it measures whatever scheduler that cluster runs, from pod creation.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			out := cmd.OutOrStdout()
			cfg := bench.SchedulerConfig{Nodes: nodes, Pods: pods, Mix: mix, Clients: clients}
			if kubeconfig != "" {
				rc, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
				if err != nil {
					return err
				}
				cfg.Rest = rc
			} else {
				rc, stop, err := startBenchServer(ctx)
				if err != nil {
					return err
				}
				defer stop()
				cfg.Rest = rc
				cfg.StartScheduler = func(ctx context.Context) (func(), error) {
					return startBenchScheduler(ctx, rc, cpuProfile)
				}
			}
			res, err := bench.RunScheduler(ctx, cfg, out)
			if err != nil {
				return err
			}
			fmt.Fprintln(out, res)
			return nil
		},
	}
	cmd.Flags().StringVar(&kubeconfig, "kubeconfig", "", "benchmark this cluster instead of an in-process one")
	cmd.Flags().IntVar(&nodes, "nodes", 1000, "nodes to create")
	cmd.Flags().IntVar(&pods, "pods", 2000, "pods to create")
	cmd.Flags().StringVar(&mix, "mix", "plain", "pod mix: plain, requests, mixed or constrained")
	cmd.Flags().IntVar(&clients, "clients", 32, "concurrent creating clients")
	cmd.Flags().StringVar(&cpuProfile, "cpuprofile", "", "write a CPU profile of the scheduling phase (in-process only)")
	return cmd
}

// startBenchServer starts a control plane in a temporary data dir with
// neither controllers nor the built-in scheduler nor a node agent.
func startBenchServer(ctx context.Context) (*rest.Config, func(), error) {
	dir, err := os.MkdirTemp("", "skiff-bench-sched-")
	if err != nil {
		return nil, nil, err
	}
	s, err := server.Start(ctx, server.Config{
		DataDir: dir, BindAddress: "127.0.0.1", HTTPSPort: -1,
		EtcdClientURL: "https://127.0.0.1:0", EtcdPeerURL: "https://127.0.0.1:0",
		DisableAgent: true, Disable: []string{"scheduler", "controllers"},
		Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		os.RemoveAll(dir)
		return nil, nil, err
	}
	rc, err := clientcmd.BuildConfigFromFlags("", s.AdminKubeconfig())
	if err != nil {
		s.Close()
		os.RemoveAll(dir)
		return nil, nil, err
	}
	return rc, func() { s.Close(); os.RemoveAll(dir) }, nil
}

// startBenchScheduler runs skiff's scheduler in this process (no leader
// election) and, if asked, profiles the CPU until it is stopped.
func startBenchScheduler(ctx context.Context, rc *rest.Config, cpuProfile string) (func(), error) {
	rc = rest.CopyConfig(rc)
	rc.QPS, rc.Burst = -1, 10000
	s, err := scheduler.New(scheduler.Config{Rest: rc, DisableLeaderElection: true})
	if err != nil {
		return nil, err
	}
	var prof *os.File
	if cpuProfile != "" {
		if prof, err = os.Create(cpuProfile); err != nil {
			return nil, err
		}
		if err := pprof.StartCPUProfile(prof); err != nil {
			prof.Close()
			return nil, err
		}
	}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	return func() {
		if prof != nil {
			pprof.StopCPUProfile()
			prof.Close()
		}
		cancel()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
		}
	}, nil
}
