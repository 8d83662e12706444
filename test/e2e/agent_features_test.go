package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestAgentFeatures checks, on a real node, what the agent hands to the
// runtime beyond the command: security contexts, resource limits and the
// pod cgroup, lifecycle hooks, events, and the tools kubectl cp needs.
func TestAgentFeatures(t *testing.T) {
	c := startNode(t)
	hostDir := t.TempDir()
	manifest := fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata:
  name: as-user
spec:
  securityContext:
    runAsUser: 1000
    runAsGroup: 3000
    fsGroup: 2000
  containers:
  - name: main
    image: %[1]s
    command: ["sleep", "3600"]
    volumeMounts:
    - {name: data, mountPath: /data}
  volumes:
  - name: data
    emptyDir: {}
---
apiVersion: v1
kind: Pod
metadata:
  name: non-root
spec:
  securityContext:
    runAsNonRoot: true
  containers:
  - name: main
    image: %[1]s
    command: ["sleep", "3600"]
---
apiVersion: v1
kind: Pod
metadata:
  name: read-only
spec:
  containers:
  - name: main
    image: %[1]s
    command: ["sleep", "3600"]
    securityContext:
      readOnlyRootFilesystem: true
      allowPrivilegeEscalation: false
      capabilities:
        drop: ["ALL"]
---
apiVersion: v1
kind: Pod
metadata:
  name: limited
spec:
  containers:
  - name: main
    image: %[1]s
    command: ["sleep", "3600"]
    resources:
      limits: {cpu: 100m, memory: 64Mi}
---
apiVersion: v1
kind: Pod
metadata:
  name: oom
spec:
  restartPolicy: Never
  containers:
  - name: main
    image: %[1]s
    # dd's block buffer alone is larger than the limit.
    command: ["dd", "if=/dev/zero", "of=/dev/null", "bs=256M", "count=4"]
    resources:
      limits: {memory: 32Mi}
---
apiVersion: v1
kind: Pod
metadata:
  name: hooks
spec:
  terminationGracePeriodSeconds: 5
  containers:
  - name: main
    image: %[1]s
    command: ["sleep", "3600"]
    volumeMounts:
    - {name: host, mountPath: /host}
    lifecycle:
      postStart:
        exec:
          command: ["sh", "-c", "echo started-by-hook > /tmp/hook"]
      preStop:
        exec:
          command: ["sh", "-c", "echo stopped-by-hook > /host/prestop"]
  volumes:
  - name: host
    hostPath: {path: %[2]s}
---
apiVersion: v1
kind: Pod
metadata:
  name: bad-hook
spec:
  restartPolicy: Never
  terminationGracePeriodSeconds: 1
  containers:
  - name: main
    image: %[1]s
    command: ["sleep", "3600"]
    lifecycle:
      postStart:
        exec:
          command: ["false"]
`, testImage, hostDir)
	f := filepath.Join(t.TempDir(), "pods.yaml")
	if err := os.WriteFile(f, []byte(manifest), 0o644); err != nil {
		t.Fatal(err)
	}
	c.kubectl(t, "apply", "-f", f)
	c.kubectl(t, "wait", "--for=condition=Ready", "pod/as-user", "pod/read-only", "pod/limited", "pod/hooks", "--timeout=120s")

	t.Run("runAsUser", func(t *testing.T) {
		out := c.kubectl(t, "exec", "as-user", "--", "id")
		mustContain(t, "id", out, "uid=1000", "gid=3000", "2000")
		if out := strings.TrimSpace(c.kubectl(t, "exec", "as-user", "--", "id", "-u")); out != "1000" {
			t.Errorf("id -u = %q, want 1000", out)
		}
	})

	t.Run("fsGroup owns the volumes", func(t *testing.T) {
		// The emptyDir is the group's, with setgid: what the user writes
		// there belongs to the group too.
		out := c.kubectl(t, "exec", "as-user", "--", "sh", "-c", "touch /data/f && ls -ldn /data /data/f")
		mustContain(t, "ls", out, "drwxrwsrwx", " 2000 ")
		for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
			if f := strings.Fields(line); len(f) > 3 && f[3] != "2000" {
				t.Errorf("group of %s is %s, want 2000", f[len(f)-1], f[3])
			}
		}
	})

	t.Run("runAsNonRoot refuses an image that runs as root", func(t *testing.T) {
		waitUntil(t, 60*time.Second, "CreateContainerConfigError", func() (bool, string) {
			out, _ := c.kubectlErr("get", "pod", "non-root", "-o", "jsonpath={.status.containerStatuses[0].state.waiting.reason}|{.status.containerStatuses[0].state.waiting.message}")
			return strings.HasPrefix(out, "CreateContainerConfigError|container has runAsNonRoot and image will run as root"), out
		})
	})

	t.Run("readOnlyRootFilesystem", func(t *testing.T) {
		out, err := c.kubectlErr("exec", "read-only", "--", "touch", "/tmp/x")
		if err == nil {
			t.Fatalf("writing to a read-only root succeeded: %s", out)
		}
		mustContain(t, "touch", out, "Read-only file system")
		// No capabilities left: root cannot even change a file's owner.
		status := c.kubectl(t, "exec", "read-only", "--", "sh", "-c", "grep CapEff /proc/self/status; grep NoNewPrivs /proc/self/status")
		mustContain(t, "status", status, "CapEff:\t0000000000000000", "NoNewPrivs:\t1")
	})

	t.Run("limits and the pod cgroup", func(t *testing.T) {
		uid := strings.TrimSpace(c.kubectl(t, "get", "pod", "limited", "-o", "jsonpath={.metadata.uid}"))
		// A Guaranteed pod's cgroup sits right under kubepods.
		dir := "/sys/fs/cgroup/memory/kubepods/pod" + uid
		if b, err := os.ReadFile(filepath.Join(dir, "memory.limit_in_bytes")); err != nil || strings.TrimSpace(string(b)) != "67108864" {
			t.Errorf("pod memory limit = %q, %v; want 67108864", b, err)
		}
		if b, err := os.ReadFile("/sys/fs/cgroup/cpu/kubepods/pod" + uid + "/cpu.cfs_quota_us"); err != nil || strings.TrimSpace(string(b)) != "10000" {
			t.Errorf("pod cpu quota = %q, %v; want 10000", b, err)
		}
		// The container's own limit, as it sees it.
		if out := strings.TrimSpace(c.kubectl(t, "exec", "limited", "--", "cat", "/sys/fs/cgroup/memory/memory.limit_in_bytes")); out != "67108864" {
			t.Errorf("container memory limit = %q, want 67108864", out)
		}
		c.kubectl(t, "delete", "pod", "limited", "--grace-period=1", "--wait=true", "--timeout=60s")
		waitUntil(t, 60*time.Second, "the pod cgroup removed", func() (bool, string) {
			_, err := os.Stat(dir)
			return os.IsNotExist(err), fmt.Sprint(err)
		})
	})

	t.Run("OOMKilled", func(t *testing.T) {
		waitUntil(t, 90*time.Second, "OOMKilled", func() (bool, string) {
			out, _ := c.kubectlErr("get", "pod", "oom", "-o", "jsonpath={.status.phase} {.status.containerStatuses[0].state.terminated.reason} {.status.containerStatuses[0].state.terminated.exitCode}")
			return out == "Failed OOMKilled 137", out
		})
	})

	t.Run("lifecycle hooks", func(t *testing.T) {
		if out := c.kubectl(t, "exec", "hooks", "--", "cat", "/tmp/hook"); out != "started-by-hook\n" {
			t.Errorf("postStart file = %q", out)
		}
		waitUntil(t, 60*time.Second, "FailedPostStartHook", func() (bool, string) {
			out, _ := c.kubectlErr("get", "events", "--field-selector", "involvedObject.name=bad-hook", "-o", "jsonpath={range .items[*]}{.reason}{\"\\n\"}{end}")
			return strings.Contains(out, "FailedPostStartHook"), out
		})
		waitUntil(t, 60*time.Second, "bad-hook killed", func() (bool, string) {
			out, _ := c.kubectlErr("get", "pod", "bad-hook", "-o", "jsonpath={.status.phase}")
			return out == "Failed", out
		})
		c.kubectl(t, "delete", "pod", "hooks", "--wait=true", "--timeout=60s")
		b, err := os.ReadFile(filepath.Join(hostDir, "prestop"))
		if err != nil || string(b) != "stopped-by-hook\n" {
			t.Errorf("preStop file = %q, %v", b, err)
		}
	})

	t.Run("events", func(t *testing.T) {
		waitUntil(t, 30*time.Second, "Pulled, Created and Started events from the kubelet", func() (bool, string) {
			out, _ := c.kubectlErr("get", "events", "--field-selector", "involvedObject.name=as-user",
				"-o", "jsonpath={range .items[*]}{.reason}/{.source.component}/{.involvedObject.fieldPath}: {.message}{\"\\n\"}{end}")
			return strings.Contains(out, "Pulled/kubelet/spec.containers{main}") && strings.Contains(out, "Created/kubelet/spec.containers{main}: Created container: main") &&
				strings.Contains(out, "Started/kubelet/spec.containers{main}: Started container main"), out
		})
		out := c.kubectl(t, "get", "events")
		mustContain(t, "get events", out, "Pulled", "Created", "Started", "pod/as-user")
	})

	t.Run("kubectl cp", func(t *testing.T) {
		src := filepath.Join(t.TempDir(), "greeting.txt")
		if err := os.WriteFile(src, []byte("hello through tar\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		c.kubectl(t, "cp", src, "as-user:/tmp/greeting.txt")
		if out := c.kubectl(t, "exec", "as-user", "--", "cat", "/tmp/greeting.txt"); out != "hello through tar\n" {
			t.Errorf("copied in: %q", out)
		}
		c.kubectl(t, "exec", "as-user", "--", "sh", "-c", "mkdir -p /tmp/out && echo from-pod > /tmp/out/file")
		dst := filepath.Join(t.TempDir(), "out")
		c.kubectl(t, "cp", "as-user:/tmp/out", dst)
		if b, err := os.ReadFile(filepath.Join(dst, "file")); err != nil || string(b) != "from-pod\n" {
			t.Errorf("copied out: %q, %v", b, err)
		}
	})

	t.Run("pod cgroups removed with the pods", func(t *testing.T) {
		uids := strings.Fields(c.kubectl(t, "get", "pods", "-o", "jsonpath={.items[*].metadata.uid}"))
		if len(uids) == 0 {
			t.Fatal("no pods left to delete")
		}
		c.kubectl(t, "delete", "pods", "--all", "--grace-period=1", "--wait=true", "--timeout=60s")
		for _, uid := range uids {
			for _, qos := range []string{"", "burstable/", "besteffort/"} {
				dir := "/sys/fs/cgroup/memory/kubepods/" + qos + "pod" + uid
				waitUntil(t, 30*time.Second, "cgroup "+dir+" removed", func() (bool, string) {
					_, err := os.Stat(dir)
					return os.IsNotExist(err), fmt.Sprint(err)
				})
			}
		}
	})
}
