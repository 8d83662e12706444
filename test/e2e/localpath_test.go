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

// applyManifest writes manifest to a file and applies it.
func (c *cluster) applyManifest(t *testing.T, manifest string) {
	t.Helper()
	f := filepath.Join(t.TempDir(), "manifest.yaml")
	if err := os.WriteFile(f, []byte(manifest), 0o644); err != nil {
		t.Fatal(err)
	}
	c.kubectl(t, "apply", "-f", f)
}

// waitForVolume polls cond every 200 ms until it holds, failing the test after
// timeout.
func waitForVolume(t *testing.T, what string, timeout time.Duration, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ok, last := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s (last: %s)", what, last)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// runToCompletion creates a pod that runs script with the claim mounted
// at /data (and its subPath "sub" at /sub), fsGroup 2000, waits for it
// to succeed and returns its log.
func (c *cluster) runToCompletion(t *testing.T, name, claim, script string) string {
	t.Helper()
	c.applyManifest(t, fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata:
  name: %s
spec:
  restartPolicy: Never
  securityContext:
    runAsUser: 1000
    fsGroup: 2000
    fsGroupChangePolicy: OnRootMismatch
  containers:
  - name: c
    image: %s
    command: ["sh", "-c", %q]
    volumeMounts:
    - {name: data, mountPath: /data}
    - {name: data, mountPath: /sub, subPath: sub}
  volumes:
  - name: data
    persistentVolumeClaim: {claimName: %s}
`, name, testImage, script, claim))
	waitForVolume(t, "pod "+name+" to succeed", 120*time.Second, func() (bool, string) {
		out, _ := c.kubectlErr("get", "pod", name, "-o", "jsonpath={.status.phase}")
		return out == "Succeeded", out
	})
	return c.kubectl(t, "logs", name)
}

// TestLocalVolumeOnNode: the agent publishes its storage dir, creates the
// directory of a local-path PV labelled for it, and pods mount a claim
// bound (by the test, as the PV binder would) to it: a file written by
// one pod, as a non-root user thanks to fsGroup, is read back by the next
// one, also through a subPath.
func TestLocalVolumeOnNode(t *testing.T) {
	c := startNode(t)
	node := strings.TrimSpace(c.kubectl(t, "get", "nodes", "-o", "jsonpath={.items[0].metadata.name}"))
	storage := strings.TrimSpace(c.kubectl(t, "get", "node", node, "-o", `jsonpath={.metadata.annotations.skiff\.io/storage-dir}`))
	if storage != filepath.Join(c.dataDir, "storage") {
		t.Fatalf("node storage-dir annotation %q, want %s", storage, filepath.Join(c.dataDir, "storage"))
	}
	c.applyManifest(t, fmt.Sprintf(`apiVersion: v1
kind: PersistentVolume
metadata:
  name: pvc-static
  labels: {skiff.io/local-path-node: %[1]s}
spec:
  capacity: {storage: 16Mi}
  accessModes: [ReadWriteOnce]
  persistentVolumeReclaimPolicy: Retain
  storageClassName: ""
  local: {path: %[2]s/pvc-static}
  claimRef: {namespace: default, name: data}
  nodeAffinity:
    required:
      nodeSelectorTerms:
      - matchExpressions:
        - {key: kubernetes.io/hostname, operator: In, values: [%[1]s]}
---
apiVersion: v1
kind: PersistentVolumeClaim
metadata:
  name: data
spec:
  accessModes: [ReadWriteOnce]
  storageClassName: ""
  volumeName: pvc-static
  resources: {requests: {storage: 16Mi}}
`, node, storage))
	dir := filepath.Join(storage, "pvc-static")
	waitForVolume(t, "the volume's directory", 30*time.Second, func() (bool, string) {
		st, err := os.Stat(dir)
		return err == nil && st.Mode().Perm() == 0o777, fmt.Sprint(err)
	})
	// The test is the PV binder: the claim is Bound.
	c.kubectl(t, "patch", "pvc", "data", "--subresource=status", "--type=merge", "-p",
		`{"status":{"phase":"Bound","accessModes":["ReadWriteOnce"],"capacity":{"storage":"16Mi"}}}`)

	c.runToCompletion(t, "writer", "data", "echo hello > /data/f && echo deep > /sub/g && ls -lnd /data")
	c.kubectl(t, "delete", "pod", "writer", "--grace-period=1")
	out := c.runToCompletion(t, "reader", "data", "cat /data/f /data/sub/g /sub/g && ls -lnd /data")
	mustContain(t, "reader's log", out, "hello", "deep")
	// fsGroup: the volume's root belongs to group 2000.
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if fields := strings.Fields(lines[len(lines)-1]); len(fields) < 4 || fields[3] != "2000" {
		t.Errorf("volume root as the pod sees it: %q, want group 2000", out)
	}
	if b, err := os.ReadFile(filepath.Join(dir, "sub", "g")); err != nil || string(b) != "deep\n" {
		t.Errorf("subPath file on the host: %q, %v", b, err)
	}

	// A claim that is not bound keeps its pod waiting with FailedMount.
	c.applyManifest(t, `apiVersion: v1
kind: PersistentVolumeClaim
metadata:
  name: unbound
spec:
  accessModes: [ReadWriteOnce]
  storageClassName: ""
  resources: {requests: {storage: 1Mi}}
`)
	c.applyManifest(t, fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata:
  name: waiting
spec:
  nodeName: %s
  containers:
  - {name: c, image: %s, command: ["sleep", "3600"], volumeMounts: [{name: d, mountPath: /d}]}
  volumes:
  - {name: d, persistentVolumeClaim: {claimName: unbound}}
`, node, testImage))
	waitForVolume(t, "FailedMount for the unbound claim", 60*time.Second, func() (bool, string) {
		out, _ := c.kubectlErr("get", "events", "--field-selector", "involvedObject.name=waiting,reason=FailedMount", "-o", "jsonpath={.items[*].message}")
		return strings.Contains(out, "PVC is not bound"), out
	})
	c.kubectl(t, "delete", "pod", "waiting", "--grace-period=1")

	// The PV gone, its directory goes.
	c.kubectl(t, "delete", "pod", "reader", "--grace-period=1")
	c.kubectl(t, "delete", "pvc", "data", "--wait=false")
	c.kubectl(t, "delete", "pv", "pvc-static", "--wait=false")
	// Protection finalizers, where their controllers run, are not the
	// point here.
	_, _ = c.kubectlErr("patch", "pvc", "data", "--type=merge", "-p", `{"metadata":{"finalizers":null}}`)
	_, _ = c.kubectlErr("patch", "pv", "pvc-static", "--type=merge", "-p", `{"metadata":{"finalizers":null}}`)
	waitForVolume(t, "the volume's directory to be removed", 60*time.Second, func() (bool, string) {
		_, err := os.Stat(dir)
		return os.IsNotExist(err), fmt.Sprint(err)
	})
}

// restartServer stops the node's skiff server (its agent with it) and
// starts it again on the same data dir, then waits for the node to be
// Ready again. Containers keep running meanwhile.
func (c *cluster) restartServer(t *testing.T) {
	t.Helper()
	stopProcess(c.cmd, 20*time.Second)
	cmd := exec.Command(c.cmd.Path, c.cmd.Args[1:]...)
	cmd.Stdout, cmd.Stderr = c.log, c.log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	c.cmd = cmd
	waitForVolume(t, "the node Ready after the restart", 60*time.Second, func() (bool, string) {
		out, err := c.kubectlErr("get", "nodes", "-o", `jsonpath={.items[*].status.conditions[?(@.type=="Ready")].status}`)
		return err == nil && strings.Contains(out, "True"), out
	})
}

// TestStatefulSetLocalPath is the whole story on the default class: a
// three-replica StatefulSet's claims are provisioned on this node by
// local-path (the scheduler's VolumeBinding picks the node, the PV binder
// binds), each pod writes its ordinal into its volume, a deleted pod
// comes back to the same data, and so do all after the node's agent
// restarts; scaling down and up reattaches, and
// deleting the StatefulSet (whenDeleted: Delete) removes the claims, the
// volumes and their directories.
func TestStatefulSetLocalPath(t *testing.T) {
	c := startNode(t)
	storage := filepath.Join(c.dataDir, "storage")
	c.applyManifest(t, fmt.Sprintf(`apiVersion: v1
kind: Service
metadata:
  name: web
spec:
  clusterIP: None
  selector: {app: web}
  ports: [{port: 80}]
---
apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: web
spec:
  serviceName: web
  replicas: 3
  selector:
    matchLabels: {app: web}
  persistentVolumeClaimRetentionPolicy:
    whenDeleted: Delete
    whenScaled: Retain
  template:
    metadata:
      labels: {app: web}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - name: c
        image: %s
        command: ["sh", "-c", "o=${HOSTNAME##*-}; [ -f /data/ordinal ] || echo $o > /data/ordinal; exec sleep 3600"]
        volumeMounts:
        - {name: data, mountPath: /data}
  volumeClaimTemplates:
  - metadata:
      name: data
    spec:
      accessModes: [ReadWriteOnce]
      resources: {requests: {storage: 8Mi}}
`, testImage))
	ready := func(n int) {
		t.Helper()
		waitForVolume(t, fmt.Sprintf("%d ready replicas", n), 180*time.Second, func() (bool, string) {
			out, _ := c.kubectlErr("get", "statefulset", "web", "-o", "jsonpath={.status.readyReplicas}")
			return out == fmt.Sprint(n) || (n == 0 && out == ""), out
		})
	}
	ordinal := func(pod string) string {
		t.Helper()
		return strings.TrimSpace(c.kubectl(t, "exec", pod, "--", "cat", "/data/ordinal"))
	}
	ready(3)
	uids := map[string]string{}
	for i := range 3 {
		pod := fmt.Sprintf("web-%d", i)
		if got := ordinal(pod); got != fmt.Sprint(i) {
			t.Errorf("%s wrote %q, want %d", pod, got, i)
		}
		claim := "data-" + pod
		uids[claim] = strings.TrimSpace(c.kubectl(t, "get", "pvc", claim, "-o", "jsonpath={.metadata.uid}"))
		pv := strings.TrimSpace(c.kubectl(t, "get", "pvc", claim, "-o", "jsonpath={.spec.volumeName}"))
		if pv != "pvc-"+uids[claim] {
			t.Errorf("claim %s bound to %q, want pvc-%s", claim, pv, uids[claim])
		}
		if b, err := os.ReadFile(filepath.Join(storage, pv, "ordinal")); err != nil || strings.TrimSpace(string(b)) != fmt.Sprint(i) {
			t.Errorf("%s's file on the host: %q, %v", pod, b, err)
		}
	}
	sc := c.kubectl(t, "get", "pvc", "data-web-0", "-o", "jsonpath={.spec.storageClassName}")
	if sc != "local-path" {
		t.Errorf("claim's class %q, want the default local-path", sc)
	}

	// A claim grows: the class allows expansion, so the volume and the
	// claim's status follow the new request.
	c.kubectl(t, "patch", "pvc", "data-web-0", "-p", `{"spec":{"resources":{"requests":{"storage":"16Mi"}}}}`)
	waitForVolume(t, "data-web-0 expanded to 16Mi", 60*time.Second, func() (bool, string) {
		out, _ := c.kubectlErr("get", "pvc", "data-web-0", "-o", "jsonpath={.status.capacity.storage} {.status.conditions}")
		pv, _ := c.kubectlErr("get", "pv", "pvc-"+uids["data-web-0"], "-o", "jsonpath={.spec.capacity.storage}")
		return out == "16Mi " && pv == "16Mi", out + " pv " + pv
	})

	// A deleted pod comes back to its data.
	c.kubectl(t, "exec", "web-1", "--", "sh", "-c", "echo kept > /data/extra")
	c.kubectl(t, "delete", "pod", "web-1", "--grace-period=1")
	ready(3)
	if out := strings.TrimSpace(c.kubectl(t, "exec", "web-1", "--", "cat", "/data/ordinal", "/data/extra")); out != "1\nkept" {
		t.Errorf("web-1 after recreation reads %q", out)
	}

	// The node's agent restarted (the whole skiff server, agent included)
	// finds the volumes where they were: the pods read their data, and a
	// pod deleted afterwards is mounted again on the same directory.
	c.restartServer(t)
	for i := range 3 {
		pod := fmt.Sprintf("web-%d", i)
		waitForVolume(t, pod+" reads its ordinal after the restart", 60*time.Second, func() (bool, string) {
			out, err := c.kubectlErr("exec", pod, "--", "cat", "/data/ordinal")
			return err == nil && strings.TrimSpace(out) == fmt.Sprint(i), out
		})
	}
	c.kubectl(t, "delete", "pod", "web-0", "--grace-period=1")
	ready(3)
	if got := ordinal("web-0"); got != "0" {
		t.Errorf("web-0 recreated after the restart reads %q", got)
	}

	// Scale down and up: web-2's claim stays and is reattached.
	c.kubectl(t, "scale", "statefulset", "web", "--replicas=1")
	ready(1)
	c.kubectl(t, "get", "pvc", "data-web-2")
	c.kubectl(t, "scale", "statefulset", "web", "--replicas=3")
	ready(3)
	if got := ordinal("web-2"); got != "2" {
		t.Errorf("web-2 after scale up reads %q", got)
	}
	if uid := strings.TrimSpace(c.kubectl(t, "get", "pvc", "data-web-2", "-o", "jsonpath={.metadata.uid}")); uid != uids["data-web-2"] {
		t.Errorf("data-web-2 was recreated (uid %s, was %s)", uid, uids["data-web-2"])
	}

	// Deleting the StatefulSet deletes the claims, then the volumes
	// (reclaim Delete) and their directories.
	c.kubectl(t, "delete", "statefulset", "web", "--wait=true", "--timeout=120s")
	waitForVolume(t, "claims, volumes and directories to be gone", 180*time.Second, func() (bool, string) {
		pvcs, _ := c.kubectlErr("get", "pvc", "-o", "name")
		pvs, _ := c.kubectlErr("get", "pv", "-o", "name")
		var left []string
		for claim, uid := range uids {
			if _, err := os.Stat(filepath.Join(storage, "pvc-"+uid)); err == nil {
				left = append(left, claim)
			}
		}
		return strings.TrimSpace(pvcs) == "" && strings.TrimSpace(pvs) == "" && len(left) == 0,
			fmt.Sprintf("claims %q volumes %q directories of %v", pvcs, pvs, left)
	})
}
