package main

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"skiff/internal/agent/sim"
)

func newSimCommand() *cobra.Command {
	var (
		cfg        sim.ClusterConfig
		kubeconfig string
		logLevel   string
	)
	cmd := &cobra.Command{
		Use:   "sim",
		Short: "Run simulated nodes: they register, heartbeat and pretend to run pods",
		Long: `Runs --nodes simulated nodes in this process against any API server. Each
registers a Node and heartbeats through a Lease; pods bound to it go Running
and Ready after --start-delay; pods with restartPolicy Never or OnFailure end
Succeeded after --run-time, and the pod annotation sim.skiff.dev/exit-code: "N"
makes their containers exit with N instead.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			logger, err := newLogger(logLevel)
			if err != nil {
				return err
			}
			cfg.Logger = logger
			rc, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
			if err != nil {
				return fmt.Errorf("--kubeconfig: %w", err)
			}
			// One client for every node: one connection, no client-side
			// rate limit (thousands of nodes heartbeat through it).
			rc.QPS = -1
			rc.UserAgent = "skiff-sim"
			if cfg.Client, err = kubernetes.NewForConfig(rc); err != nil {
				return err
			}
			c, err := sim.NewCluster(cfg)
			if err != nil {
				return err
			}
			return c.Run(cmd.Context())
		},
	}
	f := cmd.Flags()
	f.IntVar(&cfg.Nodes, "nodes", 1, "how many nodes to simulate")
	f.StringVar(&kubeconfig, "kubeconfig", "", "kubeconfig of the cluster to join (required)")
	f.StringVar(&cfg.NamePrefix, "name-prefix", "sim-", "node names are <prefix><index>")
	f.DurationVar(&cfg.StartDelay, "start-delay", time.Second, "how long a pod's containers take to start")
	f.DurationVar(&cfg.RunTime, "run-time", 5*time.Second, "how long containers of Never/OnFailure pods run before they exit")
	f.IntVar(&cfg.Workers, "workers", 0, "goroutines that do the nodes' work (default: one per 4 nodes, at least 16)")
	f.StringVar(&logLevel, "log-level", "info", "debug, info, warn or error")
	_ = cmd.MarkFlagRequired("kubeconfig")
	return cmd
}
