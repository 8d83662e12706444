package containerd_test

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
	"skiff/internal/containerd/containerdtest"
	"skiff/internal/images"
)

func TestSupervisor(t *testing.T) {
	containerdtest.Require(t)
	dir := containerdtest.Dir(t)
	s := containerdtest.Start(t, dir, containerd.Config{})
	ctx := context.Background()

	// An image tarball imports into the CRI namespace.
	tarPath := filepath.Join(dir, "test.tar")
	if err := images.Write(tarPath, images.Spec{Ref: "localhost/skiff/test:1", Files: []images.File{{Path: "hello", Mode: 0o644, Data: []byte("hi")}}}); err != nil {
		t.Fatal(err)
	}
	if err := s.ImportImage(ctx, tarPath); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("ctr", "--address", s.Socket(), "-n", "k8s.io", "images", "ls", "-q").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "localhost/skiff/test:1") {
		t.Fatalf("imported image not listed: %v %s", err, out)
	}

	// A containerd that dies is started again.
	pid := containerdPID(t, s.Config().Dir)
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		if p := containerdPIDOrZero(s.Config().Dir); p != 0 && p != pid {
			if out, err := exec.Command("ctr", "--address", s.Socket(), "version").CombinedOutput(); err == nil {
				_ = out
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("containerd was not restarted")
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func containerdPID(t *testing.T, dir string) int {
	t.Helper()
	if p := containerdPIDOrZero(dir); p != 0 {
		return p
	}
	t.Fatal("no containerd process for the test dir")
	return 0
}

// containerdPIDOrZero finds the containerd started with dir's config.
func containerdPIDOrZero(dir string) int {
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		cmdline, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil {
			continue
		}
		args := strings.Split(string(cmdline), "\x00")
		if len(args) >= 3 && filepath.Base(args[0]) == "containerd" && args[2] == filepath.Join(dir, "config.toml") {
			var pid int
			for _, c := range e.Name() {
				pid = pid*10 + int(c-'0')
			}
			return pid
		}
	}
	return 0
}
