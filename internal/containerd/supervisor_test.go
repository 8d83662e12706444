package containerd

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"skiff/internal/images"
)

// needContainerd skips when the node runtime is not installed (make test
// installs it; `go test` on a bare machine does not).
func needContainerd(t *testing.T) {
	t.Helper()
	for _, b := range []string{"containerd", "ctr", "runc"} {
		if _, err := exec.LookPath(b); err != nil {
			t.Skipf("%s not installed (make test installs it)", b)
		}
	}
	if os.Geteuid() != 0 {
		t.Skip("containerd needs root")
	}
}

func TestRenderConfig(t *testing.T) {
	c := Config{Dir: "/var/lib/skiff/containerd"}
	c.setDefaults()
	data, err := renderConfig(c)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		`address = "/var/lib/skiff/containerd/containerd.sock"`,
		`restrict_oom_score_adj = true`,
		`SystemdCgroup = false`,
		`Root = "/var/lib/skiff/containerd/runc"`,
		`netns_mounts_under_state_dir = true`,
		`bin_dir = "/usr/lib/cni"`,
		`conf_dir = "/var/lib/skiff/containerd/cni"`,
		`sandbox_image = "localhost/skiff/pause:1"`,
	} {
		if !strings.Contains(string(data), want) {
			t.Errorf("config lacks %s:\n%s", want, data)
		}
	}
}

func TestSupervisor(t *testing.T) {
	needContainerd(t)
	dir, err := os.MkdirTemp("/var/tmp", "skiff-containerd-test-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	s, err := New(Config{Dir: dir}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		<-done
		// Unmount what containerd left mounted under the test dir.
		out, _ := exec.Command("sh", "-c", "grep ' "+dir+"' /proc/mounts | awk '{print $2}' | sort -r").Output()
		for _, m := range strings.Fields(string(out)) {
			_ = syscall.Unmount(m, syscall.MNT_DETACH)
		}
	})
	select {
	case <-s.Ready():
	case <-time.After(30 * time.Second):
		log, _ := os.ReadFile(filepath.Join(dir, "containerd.log"))
		t.Fatalf("containerd not ready:\n%s", log)
	}

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
	pid := containerdPID(t, dir)
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		if p := containerdPIDOrZero(dir); p != 0 && p != pid {
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
