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
	"time"

	"github.com/spf13/cobra"

	"skiff/internal/procmem"
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
	root.AddCommand(newServerCommand(), newAgentCommand(), newKubectlCommand(), newVersionCommand(), newBenchCommand(), newImagesCommand(), newSimCommand(), newTokenCommand(), newSecretsEncryptCommand(), newServiceAccountCommand(), newEtcdSnapshotCommand(), newEtcdCommand(), newCertificateCommand())
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

// startupSettle is how long a long-running command runs before it lets go
// of the code pages its start-up touched (procmem.ReleaseStartupPages).
const startupSettle = 10 * time.Second

// releaseStartupPagesLater releases the start-up pages once the command has
// settled, unless ctx ends first.
func releaseStartupPagesLater(ctx context.Context, log *slog.Logger) {
	go func() {
		select {
		case <-ctx.Done():
			return
		case <-time.After(startupSettle):
		}
		released, err := procmem.ReleaseStartupPages()
		if err != nil {
			log.Warn("release start-up pages", "err", err)
			return
		}
		log.Debug("released start-up pages", "MiB", released>>20)
	}()
}
