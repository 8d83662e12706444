package main

import (
	"fmt"
	"path/filepath"

	"github.com/spf13/cobra"

	"skiff/internal/containerd"
)

func newImagesCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "images", Short: "Manage the node's container images"}
	var dataDir, endpoint string
	imp := &cobra.Command{
		Use:   "import FILE...",
		Short: "Load image tarballs (docker-archive or OCI) into the node's containerd",
		Long: `Load image tarballs into the containerd that skiff runs on this node, so pods
can use them without a registry (air-gapped hosts, tests). Tarballs placed in
<data-dir>/images are imported whenever skiff starts.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			socket := endpoint
			if socket == "" {
				socket = filepath.Join(dataDir, "containerd", "containerd.sock")
			}
			for _, f := range args {
				if err := containerd.ImportImage(cmd.Context(), "ctr", socket, f); err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "imported %s\n", f)
			}
			return nil
		},
	}
	imp.Flags().StringVar(&dataDir, "data-dir", "/var/lib/skiff", "skiff's data dir (its containerd socket is under it)")
	imp.Flags().StringVar(&endpoint, "container-runtime-endpoint", "", "a containerd socket to import into instead")
	cmd.AddCommand(imp)
	return cmd
}
