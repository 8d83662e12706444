package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"skiff/internal/version"
)

func newVersionCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print skiff's version",
		RunE: func(cmd *cobra.Command, _ []string) error {
			fmt.Fprintf(cmd.OutOrStdout(), "skiff %s (Kubernetes %s)\n", version.Skiff, version.Kubernetes)
			return nil
		},
	}
}
