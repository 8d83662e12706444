package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestImageVolume mounts an image into a pod on a real node, whose
// containerd (1.6) cannot do it through the CRI: the container reads the
// image's files, read-only, also through a subPath; a pod whose image
// volume may not be pulled, or whose subPath the image lacks, waits with
// upstream's reasons; and the mount goes with the pod.
func TestImageVolume(t *testing.T) {
	c := startNode(t)
	manifest := fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata:
  name: with-image
spec:
  containers:
  - name: main
    image: %[1]s
    command: ["sleep", "3600"]
    volumeMounts:
    - {name: data, mountPath: /volume}
    - {name: data, mountPath: /image-etc, subPath: etc}
  volumes:
  - name: data
    image: {reference: %[1]s, pullPolicy: IfNotPresent}
  - name: unused
    image: {reference: localhost/skiff/absent:1, pullPolicy: Never}
---
apiVersion: v1
kind: Pod
metadata:
  name: never
spec:
  containers:
  - name: main
    image: %[1]s
    command: ["sleep", "3600"]
    volumeMounts:
    - {name: data, mountPath: /volume}
  volumes:
  - name: data
    image: {reference: localhost/skiff/absent:1, pullPolicy: Never}
---
apiVersion: v1
kind: Pod
metadata:
  name: no-subpath
spec:
  containers:
  - name: main
    image: %[1]s
    command: ["sleep", "3600"]
    volumeMounts:
    - {name: data, mountPath: /volume, subPath: not-existing}
  volumes:
  - name: data
    image: {reference: %[1]s}
`, testImage)
	f := filepath.Join(t.TempDir(), "pods.yaml")
	if err := os.WriteFile(f, []byte(manifest), 0o644); err != nil {
		t.Fatal(err)
	}
	c.kubectl(t, "apply", "-f", f)
	c.kubectl(t, "wait", "--for=condition=Ready", "pod/with-image", "--timeout=120s")

	mustContain(t, "/volume/etc/passwd", c.kubectl(t, "exec", "with-image", "--", "cat", "/volume/etc/passwd"), "root:x:0:0")
	mustContain(t, "/image-etc/group", c.kubectl(t, "exec", "with-image", "--", "cat", "/image-etc/group"), "nobody:x:65534")
	out := c.kubectlFails(t, "exec", "with-image", "--", "touch", "/volume/new")
	mustContain(t, "writing into the image volume", out, "Read-only file system")

	uid := strings.TrimSpace(c.kubectl(t, "get", "pod", "with-image", "-o", "jsonpath={.metadata.uid}"))
	dir := filepath.Join(c.dataDir, "agent", "pods", uid, "volumes", "kubernetes.io~image", "data")
	if !mountedAt(t, dir) {
		t.Fatalf("%s is not a mount point on the node", dir)
	}

	for pod, want := range map[string]string{"never": "ErrImageNeverPull", "no-subpath": "CreateContainerError"} {
		deadline := time.Now().Add(60 * time.Second)
		for {
			got := c.kubectl(t, "get", "pod", pod, "-o", "jsonpath={.status.containerStatuses[0].state.waiting.reason}")
			if got == want {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("pod %s waiting reason = %q, want %s", pod, got, want)
			}
			time.Sleep(500 * time.Millisecond)
		}
	}

	c.kubectl(t, "delete", "pod", "with-image", "--grace-period=1", "--wait=true", "--timeout=60s")
	deadline := time.Now().Add(30 * time.Second)
	for mountedAt(t, dir) || exists(dir) {
		if time.Now().After(deadline) {
			t.Fatalf("%s still mounted (%v) or present (%v) after the pod went", dir, mountedAt(t, dir), exists(dir))
		}
		time.Sleep(200 * time.Millisecond)
	}
	sock := filepath.Join(c.dataDir, "containerd", "containerd.sock")
	snaps, err := exec.Command("ctr", "--address", sock, "-n", "k8s.io", "snapshots", "ls").CombinedOutput()
	if err != nil {
		t.Fatalf("ctr snapshots ls: %v\n%s", err, snaps)
	}
	if strings.Contains(string(snaps), dir) {
		t.Errorf("the image volume's snapshot outlived the pod:\n%s", snaps)
	}
}

// mountedAt reports whether something is mounted on dir in this mount
// namespace, which the node shares.
func mountedAt(t *testing.T, dir string) bool {
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

func exists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}
