// Command skiff is a small Kubernetes in one binary: API server over embedded
// etcd, scheduler, controllers and node agent, plus the bundled kubectl.
package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:])
	stop()
	os.Exit(code)
}

// run executes one skiff command line and returns the process exit code.
func run(ctx context.Context, args []string) int {
	// kubectl parses its own flags: hand everything after "kubectl" over as is.
	if len(args) > 0 && args[0] == "kubectl" {
		return runKubectl(ctx, args[1:])
	}
	root := &cobra.Command{
		Use:           "skiff",
		Short:         "skiff is a small Kubernetes in one binary",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(newServerCommand(), newAgentCommand(), newKubectlCommand(), newVersionCommand(), newBenchCommand(), newImagesCommand(), newSimCommand())
	root.SetArgs(args)
	if err := root.ExecuteContext(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "skiff:", err)
		return 1
	}
	return 0
}

// newLogger is the text logger on stderr that --log-level asks for.
func newLogger(level string) (*slog.Logger, error) {
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level: %w", err)
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: lvl})), nil
}
