package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"skiff/internal/agent/csi/csitest"
)

// TestCSIVolumeInPod registers a CSI driver (a test driver in this process
// that bind-mounts folders, with its registrar as node-driver-registrar
// runs one) with a real node and runs real containers on its volumes: a
// persistent volume, staged then published, and an inline one; the
// containers read the files the driver's folders hold, and the volumes are
// unpublished and unstaged when the pods go.
func TestCSIVolumeInPod(t *testing.T) {
	c := startNode(t)
	const driver = "csi.e2e.skiff.io"
	drv := csitest.Start(t, t.TempDir(), csitest.Config{Name: driver, NodeID: "e2e-node", Stage: true})
	drv.Register(t, filepath.Join(c.dataDir, "agent", "plugins_registry"))
	deadline := time.Now().Add(60 * time.Second)
	for !strings.Contains(c.kubectl(t, "get", "csinodes", "-o", "jsonpath={.items[*].spec.drivers[*].name}"), driver) {
		if time.Now().After(deadline) {
			t.Fatal("the driver never appeared in the node's CSINode")
		}
		time.Sleep(200 * time.Millisecond)
	}

	src := t.TempDir()
	if err := os.WriteFile(filepath.Join(src, "hello.txt"), []byte("hello from a csi volume\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	inline := t.TempDir()
	if err := os.WriteFile(filepath.Join(inline, "inline.txt"), []byte("hello from an inline csi volume\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	manifest := fmt.Sprintf(`apiVersion: storage.k8s.io/v1
kind: CSIDriver
metadata: {name: %[1]s}
spec:
  attachRequired: false
  volumeLifecycleModes: [Persistent, Ephemeral]
---
apiVersion: v1
kind: PersistentVolume
metadata: {name: csi-e2e}
spec:
  capacity: {storage: 1Gi}
  accessModes: [ReadWriteOnce]
  persistentVolumeReclaimPolicy: Retain
  storageClassName: ""
  claimRef: {namespace: default, name: csi-e2e}
  csi:
    driver: %[1]s
    volumeHandle: e2e-vol
    volumeAttributes: {source: %[2]s}
---
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: csi-e2e, namespace: default}
spec:
  accessModes: [ReadWriteOnce]
  storageClassName: ""
  volumeName: csi-e2e
  resources: {requests: {storage: 1Gi}}
`, driver, src)
	f := filepath.Join(t.TempDir(), "csi.yaml")
	if err := os.WriteFile(f, []byte(manifest), 0o644); err != nil {
		t.Fatal(err)
	}
	c.kubectl(t, "apply", "-f", f)
	// The PV binder may or may not run in this build: bind by hand, as it
	// would, where it has not.
	c.kubectl(t, "patch", "pvc", "csi-e2e", "--subresource=status", "--type=merge", "-p", `{"status":{"phase":"Bound","accessModes":["ReadWriteOnce"],"capacity":{"storage":"1Gi"}}}`)
	c.kubectl(t, "patch", "pv", "csi-e2e", "--subresource=status", "--type=merge", "-p", `{"status":{"phase":"Bound"}}`)

	pods := fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata: {name: csi-reader}
spec:
  containers:
  - name: main
    image: %[1]s
    command: ["sleep", "3600"]
    volumeMounts:
    - {name: data, mountPath: /data}
    - {name: inline, mountPath: /inline}
  volumes:
  - name: data
    persistentVolumeClaim: {claimName: csi-e2e}
  - name: inline
    csi:
      driver: %[2]s
      volumeAttributes: {source: %[3]s}
`, testImage, driver, inline)
	pf := filepath.Join(t.TempDir(), "pod.yaml")
	if err := os.WriteFile(pf, []byte(pods), 0o644); err != nil {
		t.Fatal(err)
	}
	c.kubectl(t, "apply", "-f", pf)
	c.kubectl(t, "wait", "--for=condition=Ready", "pod/csi-reader", "--timeout=120s")
	mustContain(t, "/data/hello.txt", c.kubectl(t, "exec", "csi-reader", "--", "cat", "/data/hello.txt"), "hello from a csi volume")
	mustContain(t, "/inline/inline.txt", c.kubectl(t, "exec", "csi-reader", "--", "cat", "/inline/inline.txt"), "hello from an inline csi volume")
	c.kubectl(t, "exec", "csi-reader", "--", "sh", "-c", "echo written > /data/from-pod.txt")
	if b, err := os.ReadFile(filepath.Join(src, "from-pod.txt")); err != nil || string(b) != "written\n" {
		t.Errorf("the pod's write in the volume's folder = %q, %v", b, err)
	}

	uid := strings.TrimSpace(c.kubectl(t, "get", "pod", "csi-reader", "-o", "jsonpath={.metadata.uid}"))
	target := filepath.Join(c.dataDir, "agent", "pods", uid, "volumes", "kubernetes.io~csi", "data", "mount")
	if !mountedAt(t, target) {
		t.Fatalf("%s is not a mount point on the node", target)
	}
	c.kubectl(t, "delete", "pod", "csi-reader", "--grace-period=1", "--wait=true", "--timeout=60s")
	for _, m := range []string{"NodeUnpublishVolume", "NodeUnstageVolume"} {
		if len(drv.CallsOf(m)) == 0 {
			t.Errorf("no %s call once the pod was gone", m)
		}
	}
	if mountedAt(t, target) || exists(target) {
		t.Errorf("%s still mounted (%v) or present (%v) after the pod went", target, mountedAt(t, target), exists(target))
	}
}
