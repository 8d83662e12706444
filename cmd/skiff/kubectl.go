package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/spf13/cobra"
)

const (
	// kubectlBinary is the upstream kubectl built by cmd/skiff-kubectl. It is
	// a separate binary so the server does not carry kubectl's ~60 MiB.
	kubectlBinary = "skiff-kubectl"
	// kubectlDefaultDataDir is where `skiff server` keeps admin.kubeconfig
	// unless SKIFF_DATA_DIR says otherwise.
	kubectlDefaultDataDir = "/var/lib/skiff"
)

// newKubectlCommand is the cobra entry for `skiff kubectl`. run() hands
// "kubectl" command lines to runKubectl before cobra sees them, so that
// kubectl parses its own flags; this command exists for `skiff help` and as
// the same path when reached through cobra.
func newKubectlCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "kubectl [flags] COMMAND",
		Short: "Run the bundled kubectl against this cluster",
		Long: `Run the bundled upstream kubectl (the skiff-kubectl binary installed next to
skiff, or else found on PATH) with the given arguments.

Unless KUBECONFIG is set or --kubeconfig is given, it uses the admin kubeconfig
that skiff server writes: $SKIFF_DATA_DIR/admin.kubeconfig, by default
/var/lib/skiff/admin.kubeconfig. Everything after "kubectl" goes to kubectl
unchanged; see "skiff kubectl help".`,
		DisableFlagParsing: true,
		RunE: func(_ *cobra.Command, args []string) error {
			return execKubectl(args)
		},
	}
}

// runKubectl replaces this process with kubectl and so returns only when
// that fails, with the exit code a shell gives: 127 when kubectl cannot be
// found, 126 when it cannot be run.
func runKubectl(_ context.Context, args []string) int {
	err := execKubectl(args)
	fmt.Fprintln(os.Stderr, "skiff kubectl:", err)
	if errors.Is(err, exec.ErrNotFound) || errors.Is(err, fs.ErrNotExist) {
		return 127
	}
	return 126
}

// execKubectl execs skiff-kubectl with args and the adjusted environment.
// Exec, rather than running a child, makes `skiff kubectl` behave exactly
// like kubectl: the same process receives the terminal's signals and owns
// the TTY for exec -it and edit, and its exit status is the command's.
// It returns only on failure.
func execKubectl(args []string) error {
	path, err := findKubectl()
	if err != nil {
		return err
	}
	env := kubectlEnv(os.Environ(), args)
	argv := append([]string{"kubectl"}, args...)
	if err := syscall.Exec(path, argv, env); err != nil {
		return fmt.Errorf("exec %s: %w", path, err)
	}
	return nil
}

// findKubectl returns skiff-kubectl from the directory of the running skiff
// binary, where the build and the installer put the two together, or else
// from PATH.
func findKubectl() (string, error) {
	if self, err := os.Executable(); err == nil {
		candidate := filepath.Join(filepath.Dir(self), kubectlBinary)
		if st, err := os.Stat(candidate); err == nil && st.Mode().IsRegular() && st.Mode().Perm()&0o111 != 0 {
			return candidate, nil
		}
	}
	path, err := exec.LookPath(kubectlBinary)
	if err != nil {
		return "", fmt.Errorf("find %s next to skiff or on PATH: %w", kubectlBinary, err)
	}
	return path, nil
}

// kubectlEnv returns environ with KUBECONFIG pointing at the admin
// kubeconfig, unless the user already chose one with a non-empty KUBECONFIG
// or a --kubeconfig flag. An empty KUBECONFIG counts as unset, as it does for
// kubectl.
func kubectlEnv(environ, args []string) []string {
	if kubectlHasKubeconfigFlag(args) {
		return environ
	}
	dataDir := kubectlDefaultDataDir
	out := make([]string, 0, len(environ)+1)
	for _, kv := range environ {
		name, value, _ := strings.Cut(kv, "=")
		switch name {
		case "KUBECONFIG":
			if value != "" {
				return environ
			}
			continue // dropped; replaced below
		case "SKIFF_DATA_DIR":
			if value != "" {
				dataDir = value
			}
		}
		out = append(out, kv)
	}
	return append(out, "KUBECONFIG="+filepath.Join(dataDir, "admin.kubeconfig"))
}

// kubectlHasKubeconfigFlag reports whether args give kubectl --kubeconfig.
// Arguments after "--" belong to the command kubectl runs (exec, debug), not
// to kubectl, so the search stops there.
func kubectlHasKubeconfigFlag(args []string) bool {
	for _, a := range args {
		if a == "--" {
			return false
		}
		if a == "--kubeconfig" || strings.HasPrefix(a, "--kubeconfig=") {
			return true
		}
	}
	return false
}
