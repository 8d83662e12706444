// Package containerdtest starts a real, supervised containerd for tests
// and cleans up after it (process, mounts, folders).
package containerdtest

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"skiff/internal/containerd"
)

// Require skips the test unless the node runtime is installed and the test
// runs as root (make test installs the packages; CI runs as root).
func Require(t *testing.T, extra ...string) {
	t.Helper()
	for _, b := range append([]string{"containerd", "ctr", "runc"}, extra...) {
		if _, err := exec.LookPath(b); err != nil {
			t.Skipf("%s not installed (make test installs it)", b)
		}
	}
	if os.Geteuid() != 0 {
		t.Skip("containerd needs root")
	}
}

// Dir makes a scratch folder on a disk that supports overlayfs (/var/tmp,
// not a tmpfs) and removes it, with anything mounted under it, at cleanup.
func Dir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("/var/tmp", "skiff-test-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		Unmount(dir)
		_ = os.RemoveAll(dir)
	})
	return dir
}

// Unmount detaches every mount below dir, deepest first.
func Unmount(dir string) {
	data, err := os.ReadFile("/proc/mounts")
	if err != nil {
		return
	}
	var mounts []string
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(line)
		if len(f) > 1 && strings.HasPrefix(f[1], dir+"/") {
			mounts = append(mounts, f[1])
		}
	}
	for i := len(mounts) - 1; i >= 0; i-- {
		_ = syscall.Unmount(mounts[i], syscall.MNT_DETACH)
	}
}

// Start runs a supervised containerd with cfg (Dir defaults to a folder
// under dir) until the test ends, and waits until it is ready.
func Start(t *testing.T, dir string, cfg containerd.Config) *containerd.Supervisor {
	t.Helper()
	if cfg.Dir == "" {
		cfg.Dir = filepath.Join(dir, "containerd")
	}
	s, err := containerd.New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		<-done
		Unmount(dir)
	})
	select {
	case <-s.Ready():
	case <-time.After(30 * time.Second):
		log, _ := os.ReadFile(filepath.Join(cfg.Dir, "containerd.log"))
		t.Fatalf("containerd not ready:\n%s", log)
	}
	return s
}
