package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestProbes: a readiness probe gates Ready, a failing liveness probe
// restarts the container and the restart count shows it.
func TestProbes(t *testing.T) {
	c := startNode(t)
	manifest := fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata:
  name: probed
spec:
  containers:
  - name: web
    image: %[1]s
    command: ["sh", "-c", "mkdir -p /www && echo ok > /tmp/alive && exec httpd -f -p 8080 -h /www"]
    readinessProbe:
      httpGet: {path: /ready, port: 8080}
      periodSeconds: 1
      failureThreshold: 1
    livenessProbe:
      exec: {command: ["sh", "-c", "test \"$(cat /tmp/alive)\" = ok"]}
      periodSeconds: 1
      failureThreshold: 2
`, testImage)
	f := filepath.Join(t.TempDir(), "probed.yaml")
	if err := os.WriteFile(f, []byte(manifest), 0o644); err != nil {
		t.Fatal(err)
	}
	c.kubectl(t, "apply", "-f", f)
	waitUntil(t, 90*time.Second, "container running but not Ready", func() (bool, string) {
		out, _ := c.kubectlErr("get", "pod", "probed", "-o", "jsonpath={.status.containerStatuses[0].started} {.status.containerStatuses[0].ready}")
		return strings.TrimSpace(out) == "true false", out
	})
	// Readiness follows the probe: serve /ready and the pod turns Ready.
	c.kubectl(t, "exec", "probed", "--", "sh", "-c", "echo yes > /www/ready")
	waitUntil(t, 30*time.Second, "pod Ready", func() (bool, string) {
		out, _ := c.kubectlErr("get", "pod", "probed", "-o", `jsonpath={.status.conditions[?(@.type=="Ready")].status}`)
		return strings.TrimSpace(out) == "True", out
	})
	// Liveness: once the file says otherwise the container is restarted.
	c.kubectl(t, "exec", "probed", "--", "sh", "-c", "echo dead > /tmp/alive")
	waitUntil(t, 60*time.Second, "a restart after the liveness probe failed", func() (bool, string) {
		out, _ := c.kubectlErr("get", "pod", "probed", "-o", "jsonpath={.status.containerStatuses[0].restartCount}")
		return strings.TrimSpace(out) != "" && strings.TrimSpace(out) != "0", out
	})

	// An image that is not there: ErrImagePull, then ImagePullBackOff.
	c.kubectl(t, "run", "noimage", "--image=localhost/skiff/absent:1", "--restart=Never")
	waitUntil(t, 60*time.Second, "ErrImagePull or ImagePullBackOff", func() (bool, string) {
		out, _ := c.kubectlErr("get", "pod", "noimage", "-o", "jsonpath={.status.containerStatuses[0].state.waiting.reason}")
		r := strings.TrimSpace(out)
		return r == "ErrImagePull" || r == "ImagePullBackOff", out
	})
	waitUntil(t, 60*time.Second, "ImagePullBackOff", func() (bool, string) {
		out, _ := c.kubectlErr("get", "pod", "noimage")
		return strings.Contains(out, "ImagePullBackOff"), out
	})
}

// waitUntil polls cond until it holds or the timeout passes.
func waitUntil(t *testing.T, timeout time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var last string
	for time.Now().Before(deadline) {
		ok, got := cond()
		if ok {
			return
		}
		last = got
		time.Sleep(300 * time.Millisecond)
	}
	t.Fatalf("timed out waiting for %s (last: %q)", what, last)
}
