package cri

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"skiff/internal/agent"
	"skiff/internal/agent/runtimetest"
	"skiff/internal/containerd"
	"skiff/internal/containerd/containerdtest"
	"skiff/internal/images"
)

// TestContract checks the CRI runtime against the agent.Runtime contract
// on a supervised containerd, with the pause image and the suite's busybox
// image imported. It needs root and the node runtime (CI has both).
func TestContract(t *testing.T) {
	containerdtest.Require(t, "/bin/busybox")
	dir := containerdtest.Dir(t)
	pauseBin := filepath.Join(dir, "pause")
	build := exec.Command("go", "build", "-trimpath", "-ldflags=-s -w", "-o", pauseBin, "skiff/cmd/skiff-pause")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build pause: %v\n%s", err, out)
	}
	pauseData, err := os.ReadFile(pauseBin)
	if err != nil {
		t.Fatal(err)
	}
	busybox, err := os.ReadFile("/bin/busybox")
	if err != nil {
		t.Fatal(err)
	}
	pauseTar, bbTar := filepath.Join(dir, "pause.tar"), filepath.Join(dir, "busybox.tar")
	if err := images.Write(pauseTar, images.Pause(containerd.DefaultSandboxImage, pauseData)); err != nil {
		t.Fatal(err)
	}
	if err := images.Write(bbTar, images.Busybox(runtimetest.Image, busybox, []string{"sh", "sleep"})); err != nil {
		t.Fatal(err)
	}
	sup := containerdtest.Start(t, dir, containerd.Config{})
	for _, f := range []string{pauseTar, bbTar} {
		if err := sup.ImportImage(t.Context(), f); err != nil {
			t.Fatal(err)
		}
	}
	runtimetest.Run(t, func(t *testing.T) agent.Runtime {
		rt, err := New(Config{Endpoint: sup.Socket(), LogDir: filepath.Join(dir, "logs")})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { rt.Close() })
		return rt
	})
}
