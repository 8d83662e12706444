package containerd_test

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"skiff/internal/containerd"
	"skiff/internal/containerd/containerdtest"
	"skiff/internal/images"
)

// TestImageMounter mounts an imported image read-only with ctr, as the
// agent does for image volumes, and unmounts it, leaving no snapshot.
func TestImageMounter(t *testing.T) {
	containerdtest.Require(t)
	dir := containerdtest.Dir(t)
	s := containerdtest.Start(t, dir, containerd.Config{})
	ctx := context.Background()
	const ref = "localhost/skiff/volume:1"
	tarPath := filepath.Join(dir, "volume.tar")
	err := images.Write(tarPath, images.Spec{Ref: ref, Files: []images.File{
		{Path: "data.json", Mode: 0o644, Data: []byte(`{"image":"kitten.jpg"}`)},
		{Path: "etc/os-release", Mode: 0o644, Data: []byte("NAME=test\n")},
	}})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.ImportImage(ctx, tarPath); err != nil {
		t.Fatal(err)
	}
	m := s.NewImageMounter()
	target := filepath.Join(dir, "pods", "u1", "volumes", "kubernetes.io~image", "vol")
	if err := os.MkdirAll(target, 0o755); err != nil {
		t.Fatal(err)
	}

	if err := m.MountImage(ctx, ref, target); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(filepath.Join(target, "etc", "os-release")); err != nil || string(b) != "NAME=test\n" {
		t.Errorf("etc/os-release through the mount = %q, %v", b, err)
	}
	err = os.WriteFile(filepath.Join(target, "new"), []byte("x"), 0o644)
	if !errors.Is(err, syscall.EROFS) {
		t.Errorf("writing into the mounted image: %v, want EROFS", err)
	}
	if !mounted(t, target) {
		t.Fatal("target not in the mount table")
	}
	if !strings.Contains(ctrOut(t, s, "snapshots", "ls"), target) {
		t.Error("no view snapshot named after the target")
	}

	if err := m.UnmountImage(ctx, target); err != nil {
		t.Fatal(err)
	}
	if mounted(t, target) {
		t.Error("target still mounted after UnmountImage")
	}
	if out := ctrOut(t, s, "snapshots", "ls"); strings.Contains(out, target) {
		t.Errorf("view snapshot left after UnmountImage:\n%s", out)
	}
	if out := ctrOut(t, s, "leases", "ls"); strings.Contains(out, target) {
		t.Errorf("lease left after UnmountImage:\n%s", out)
	}
	// Unmounting again, or a folder never mounted, is no error.
	if err := m.UnmountImage(ctx, target); err != nil {
		t.Errorf("second UnmountImage: %v", err)
	}
	// An image the runtime does not hold does not mount.
	if err := m.MountImage(ctx, "localhost/skiff/absent:1", target); err == nil {
		t.Error("mounting an absent image succeeded")
	}
}

func mounted(t *testing.T, dir string) bool {
	t.Helper()
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) > 4 && f[4] == dir {
			return true
		}
	}
	return false
}

func ctrOut(t *testing.T, s *containerd.Supervisor, args ...string) string {
	t.Helper()
	out, err := exec.Command("ctr", append([]string{"--address", s.Socket(), "-n", "k8s.io"}, args...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("ctr %v: %v\n%s", args, err, out)
	}
	return string(out)
}
