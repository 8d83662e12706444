package main

import (
	"github.com/spf13/cobra"
	"k8s.io/client-go/tools/clientcmd"

	"skiff/internal/bench"
)

func newBenchPodsCommand() *cobra.Command {
	var (
		kubeconfig, image, class string
		pods                     int
		rate                     float64
		claims                   bool
	)
	cmd := &cobra.Command{
		Use:   "pods",
		Short: "Pod startup latency: creation to Running as seen through a watch",
		Long: `Creates --pods pods on a running cluster, all at once or --rate per second
(the image should already be on the node, e.g. imported with "skiff images
import"), and reports p50/p99 of the time from each pod's creation to the
watch event showing it Running. Upstream's single-node throughput test
creates 5 pods per second. With --claims every pod mounts its own new
PersistentVolumeClaim (of --storage-class, else the default class), so the
latency includes binding or provisioning its volume; compare with a run
without it to see what the claims add.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			rc, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
			if err != nil {
				return err
			}
			_, err = bench.RunPods(cmd.Context(), bench.PodsConfig{Rest: rc, Pods: pods, Image: image, Rate: rate, Claims: claims, StorageClass: class}, cmd.OutOrStdout())
			return err
		},
	}
	f := cmd.Flags()
	f.StringVar(&kubeconfig, "kubeconfig", "/var/lib/skiff/admin.kubeconfig", "the cluster to measure")
	f.StringVar(&image, "image", "", "image the pods run (must contain sleep)")
	f.IntVar(&pods, "pods", 30, "pods to start")
	f.Float64Var(&rate, "rate", 0, "pods created per second (0: all at once)")
	f.BoolVar(&claims, "claims", false, "give every pod its own PersistentVolumeClaim")
	f.StringVar(&class, "storage-class", "", "StorageClass of the claims (empty: the default class)")
	_ = cmd.MarkFlagRequired("image")
	return cmd
}
