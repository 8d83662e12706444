package cri

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"skiff/internal/agent"
	"skiff/internal/containerd"
	"skiff/internal/containerd/containerdtest"
	"skiff/internal/images"
	"skiff/internal/network"
)

// TestRuntimeAgainstContainerd runs a real pod sandbox and container through
// a supervised containerd with the node's CNI network.
func TestRuntimeAgainstContainerd(t *testing.T) {
	containerdtest.Require(t, "/usr/lib/cni/bridge", "/bin/busybox")
	dir := containerdtest.Dir(t)
	const bridge = "skcritest0"
	t.Cleanup(func() { _ = exec.Command("ip", "link", "del", bridge).Run() })

	// The pause image from skiff-pause, and a busybox test image.
	pauseBin := filepath.Join(dir, "pause")
	build := exec.Command("go", "build", "-trimpath", "-ldflags=-s -w", "-o", pauseBin, "skiff/cmd/skiff-pause")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build pause: %v\n%s", err, out)
	}
	pauseData, _ := os.ReadFile(pauseBin)
	busybox, err := os.ReadFile("/bin/busybox")
	if err != nil {
		t.Fatal(err)
	}
	pauseTar, bbTar := filepath.Join(dir, "pause.tar"), filepath.Join(dir, "busybox.tar")
	if err := images.Write(pauseTar, images.Pause(containerd.DefaultSandboxImage, pauseData)); err != nil {
		t.Fatal(err)
	}
	if err := images.Write(bbTar, images.Busybox("localhost/skiff/busybox:test", busybox, []string{"sh", "httpd", "sleep", "echo", "cat"})); err != nil {
		t.Fatal(err)
	}

	confDir := filepath.Join(dir, "cni")
	if err := network.WriteConflist(confDir, network.CNIConfig{PodCIDR: "10.199.77.0/24", Bridge: bridge, IPAMDir: filepath.Join(dir, "ipam")}); err != nil {
		t.Fatal(err)
	}
	sup := containerdtest.Start(t, dir, containerd.Config{CNIConfDir: confDir})
	ctx := context.Background()
	for _, f := range []string{pauseTar, bbTar} {
		if err := sup.ImportImage(ctx, f); err != nil {
			t.Fatal(err)
		}
	}

	rt, err := New(Config{Endpoint: sup.Socket(), LogDir: filepath.Join(dir, "logs")})
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Close()
	name, version, err := rt.Version(ctx)
	if err != nil || name != "containerd" || version == "" {
		t.Fatalf("version: %q %q %v", name, version, err)
	}
	ref, err := rt.ImageStatus(ctx, "localhost/skiff/busybox:test")
	if err != nil || ref == "" {
		t.Fatalf("image status: %q %v", ref, err)
	}
	sbID, err := rt.RunPodSandbox(ctx, agent.SandboxConfig{PodUID: "uid-1", Name: "web", Namespace: "default", Hostname: "web"})
	if err != nil {
		log, _ := os.ReadFile(filepath.Join(dir, "containerd", "containerd.log"))
		t.Fatalf("run sandbox: %v\n%s", err, log)
	}
	sbs, err := rt.ListPodSandboxes(ctx, "uid-1")
	if err != nil || len(sbs) != 1 || sbs[0].State != agent.SandboxReady || len(sbs[0].IPs) != 1 || !strings.HasPrefix(sbs[0].IPs[0], "10.199.77.") {
		t.Fatalf("sandboxes: %+v %v", sbs, err)
	}
	cid, err := rt.CreateContainer(ctx, sbID, agent.ContainerConfig{Name: "httpd", Image: "localhost/skiff/busybox:test", ImageRef: ref,
		Command: []string{"httpd", "-f", "-p", "8080", "-h", "/"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := rt.StartContainer(ctx, cid); err != nil {
		t.Fatal(err)
	}
	url := fmt.Sprintf("http://%s:8080/etc/passwd", sbs[0].IPs[0])
	var body string
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := (&http.Client{Timeout: time.Second}).Get(url)
		if err == nil {
			buf := make([]byte, 256)
			n, _ := resp.Body.Read(buf)
			resp.Body.Close()
			body = string(buf[:n])
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("pod did not answer on %s: %v", url, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if !strings.Contains(body, "root:x:0:0") {
		t.Errorf("pod answered %q", body)
	}
	cs, err := rt.ListContainers(ctx, "uid-1")
	if err != nil || len(cs) != 1 || cs[0].State != agent.ContainerRunning || cs[0].Name != "httpd" {
		t.Fatalf("containers: %+v %v", cs, err)
	}
	if err := rt.StopContainer(ctx, cid, 2*time.Second); err != nil {
		t.Fatal(err)
	}
	cs, _ = rt.ListContainers(ctx, "uid-1")
	if len(cs) != 1 || cs[0].State != agent.ContainerExited {
		t.Fatalf("after stop: %+v", cs)
	}
	if err := rt.RemoveContainer(ctx, cid); err != nil {
		t.Fatal(err)
	}
	if err := rt.StopPodSandbox(ctx, sbID); err != nil {
		t.Fatal(err)
	}
	if err := rt.RemovePodSandbox(ctx, sbID); err != nil {
		t.Fatal(err)
	}
	if sbs, _ := rt.ListPodSandboxes(ctx, "uid-1"); len(sbs) != 0 {
		t.Errorf("sandboxes after remove: %+v", sbs)
	}

	// Images, for the image garbage collection.
	imgs, err := rt.ListImages(ctx)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, img := range imgs {
		found = found || img.ID == ref && img.Size > 0 && slices.Contains(img.Tags, "localhost/skiff/busybox:test")
	}
	if !found {
		t.Errorf("images %+v: want %s tagged localhost/skiff/busybox:test", imgs, ref)
	}
	fs, err := rt.ImageFsStats(ctx)
	if err != nil || fs.Capacity == 0 || fs.Available > fs.Capacity {
		t.Errorf("image fs stats %+v, %v", fs, err)
	}
	if err := rt.RemoveImage(ctx, ref); err != nil {
		t.Fatal(err)
	}
	if got, err := rt.ImageStatus(ctx, "localhost/skiff/busybox:test"); err != nil || got != "" {
		t.Errorf("image status after remove: %q %v", got, err)
	}
	if err := rt.RemoveImage(ctx, ref); err != nil {
		t.Errorf("removing a removed image: %v", err)
	}
}
