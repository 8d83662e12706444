package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestContainerdRestart kills the node's containerd under a running pod:
// skiff's supervisor starts it again, the agent reconnects, and the pod's
// container keeps running untouched (same container, no restart), reachable
// by kubectl exec; new pods start again.
func TestContainerdRestart(t *testing.T) {
	c := startNode(t)
	c.kubectl(t, "run", "survivor", "--image="+testImage, "--restart=Always", "--command", "--", "sleep", "3600")
	c.kubectl(t, "wait", "--for=condition=Ready", "pod/survivor", "--timeout=120s")
	before := c.kubectl(t, "get", "pod", "survivor", "-o", "jsonpath={.status.containerStatuses[0].containerID} {.status.containerStatuses[0].restartCount}")
	if !strings.HasPrefix(before, "containerd://") || !strings.HasSuffix(before, " 0") {
		t.Fatalf("container before the restart: %q", before)
	}

	old := containerdChild(t, c)
	if old == 0 {
		t.Fatal("no containerd child of the skiff server for this data dir")
	}
	if err := syscall.Kill(old, syscall.SIGKILL); err != nil {
		t.Fatalf("kill containerd %d: %v", old, err)
	}
	waitUntil(t, 60*time.Second, "containerd started again", func() (bool, string) {
		pid := containerdChild(t, c)
		return pid != 0 && pid != old, fmt.Sprintf("pid %d", pid)
	})

	// The agent reaches the new containerd: exec goes through the CRI's
	// streaming server, and a new pod gets a sandbox and a container.
	waitUntil(t, 60*time.Second, "kubectl exec after the restart", func() (bool, string) {
		out, err := c.kubectlErr("exec", "survivor", "--", "echo", "still-here")
		return err == nil && strings.TrimSpace(out) == "still-here", out
	})
	c.kubectl(t, "run", "newcomer", "--image="+testImage, "--restart=Always", "--command", "--", "sleep", "3600")
	c.kubectl(t, "wait", "--for=condition=Ready", "pod/newcomer", "--timeout=120s")

	after := c.kubectl(t, "get", "pod", "survivor", "-o", "jsonpath={.status.containerStatuses[0].containerID} {.status.containerStatuses[0].restartCount} {.status.phase}")
	if after != before+" Running" {
		t.Errorf("container after the restart: %q, want %q", after, before+" Running")
	}
}

// containerdChild finds the containerd that the test's skiff server runs:
// a child of the server process whose command line names the data dir.
func containerdChild(t *testing.T, c *cluster) int {
	t.Helper()
	server := strconv.Itoa(c.cmd.Process.Pid)
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		f := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+1:]))
		if len(f) < 2 || f[1] != server {
			continue
		}
		cmdline, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil {
			continue
		}
		args := strings.Split(string(cmdline), "\x00")
		if filepath.Base(args[0]) == "containerd" && strings.Contains(string(cmdline), c.dataDir) {
			return pid
		}
	}
	return 0
}

// TestStaticPods runs a static pod from the node's default manifest folder
// (<data-dir>/agent/pod-manifests): its mirror pod shows in kubectl,
// comes back when deleted while the container keeps running, and the pod
// goes away with its file.
func TestStaticPods(t *testing.T) {
	c := startNode(t)
	node := strings.TrimSpace(c.kubectl(t, "get", "nodes", "-o", "jsonpath={.items[0].metadata.name}"))
	dir := filepath.Join(c.dataDir, "agent", "pod-manifests")
	if _, err := os.Stat(dir); err != nil {
		t.Fatalf("the server did not create its manifest folder: %v", err)
	}
	manifest := fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata:
  name: static-web
  namespace: kube-system
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: web
    image: %s
    imagePullPolicy: Never
    command: ["sh", "-c", "echo static > /tmp/index.html && exec httpd -f -p 8080 -h /tmp"]
`, testImage)
	// Written beside the folder and renamed in, so no half file is read.
	tmp := filepath.Join(c.dataDir, "static-web.yaml")
	if err := os.WriteFile(tmp, []byte(manifest), 0o644); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, "static-web.yaml")
	if err := os.Rename(tmp, file); err != nil {
		t.Fatal(err)
	}
	name := "static-web-" + node
	query := "jsonpath={.metadata.uid} {.status.phase} {.status.containerStatuses[0].containerID} {.metadata.annotations.kubernetes\\.io/config\\.mirror}"
	var first []string
	waitUntil(t, 120*time.Second, "mirror pod Running", func() (bool, string) {
		out, err := c.kubectlErr("get", "pod", "-n", "kube-system", name, "-o", query)
		first = strings.Fields(out)
		return err == nil && len(first) == 4 && first[1] == "Running" && strings.HasPrefix(first[2], "containerd://"), out
	})
	out := c.kubectl(t, "get", "pods", "-A")
	mustContain(t, "get pods -A", out, name, "Running")
	out = c.kubectl(t, "get", "pod", "-n", "kube-system", name, "-o", "jsonpath={.metadata.ownerReferences[0].kind}/{.metadata.ownerReferences[0].name}")
	if out != "Node/"+node {
		t.Errorf("mirror pod owner %q, want Node/%s", out, node)
	}
	out = c.kubectl(t, "exec", "-n", "kube-system", name, "--", "cat", "/tmp/index.html")
	if strings.TrimSpace(out) != "static" {
		t.Errorf("exec in the static pod: %q", out)
	}

	// Deleting the mirror pod brings a new one; the container is the same.
	c.kubectl(t, "delete", "pod", "-n", "kube-system", name, "--timeout=60s")
	waitUntil(t, 60*time.Second, "mirror pod back", func() (bool, string) {
		out, err := c.kubectlErr("get", "pod", "-n", "kube-system", name, "-o", query)
		f := strings.Fields(out)
		return err == nil && len(f) == 4 && f[0] != first[0] && f[1] == "Running" && f[2] == first[2] && f[3] == first[3], out
	})

	// Removing the file stops the pod: the mirror pod goes, and so do the
	// pod's processes.
	if n := podProcesses(first[3]); n == 0 {
		t.Fatalf("no process in the cgroup of static pod %s", first[3])
	}
	if err := os.Remove(file); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, 90*time.Second, "mirror pod gone", func() (bool, string) {
		out, err := c.kubectlErr("get", "pod", "-n", "kube-system", name)
		return err != nil && strings.Contains(out, "NotFound"), out
	})
	waitUntil(t, 30*time.Second, "the static pod's processes gone", func() (bool, string) {
		n := podProcesses(first[3])
		return n == 0, fmt.Sprintf("%d processes", n)
	})
}

// podProcesses counts the processes in the cgroup of the pod with uid.
func podProcesses(uid string) int {
	n := 0
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		cg, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cgroup"))
		if err == nil && strings.Contains(string(cg), "/pod"+uid+"/") {
			n++
		}
	}
	return n
}
