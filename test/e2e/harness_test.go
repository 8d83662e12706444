package e2e

import (
	"bytes"
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// binDir returns where skiff and skiff-kubectl are, or skips when the
// binaries were not built (make test always builds them).
func binDir(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("SKIFF_BIN_DIR")
	if dir == "" {
		t.Skip("SKIFF_BIN_DIR is not set; run through `make test`")
	}
	for _, b := range []string{"skiff", "skiff-kubectl"} {
		if _, err := os.Stat(filepath.Join(dir, b)); err != nil {
			t.Fatalf("binary %s missing in %s: %v", b, dir, err)
		}
	}
	return dir
}

// cluster is a running `skiff server` process.
type cluster struct {
	bin     string
	dataDir string
	cmd     *exec.Cmd
	// netns, when set, is the network namespace the server runs in;
	// kubectl runs there too.
	netns string
	log   interface {
		io.Writer
		String() string
	}
}

// lockedBuffer is a buffer the server process and the test share safely.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// startCluster runs `skiff server` on free ports and waits until kubectl
// gets ok from /readyz.
func startCluster(t *testing.T, extra ...string) *cluster {
	t.Helper()
	bin := binDir(t)
	c := &cluster{bin: bin, dataDir: t.TempDir(), log: &lockedBuffer{}}
	args := append([]string{"server", "--data-dir", c.dataDir, "--https-port", "0", "--bind-address", "127.0.0.1",
		"--etcd-client-url", "https://127.0.0.1:0", "--etcd-peer-url", "https://127.0.0.1:0", "--disable-agent"}, extra...)
	c.cmd = exec.Command(filepath.Join(bin, "skiff"), args...)
	c.cmd.Stdout, c.cmd.Stderr = c.log, c.log
	if err := c.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		stopProcess(c.cmd, 10*time.Second)
		if t.Failed() {
			t.Logf("skiff server log:\n%s", c.log.String())
		}
	})
	deadline := time.Now().Add(30 * time.Second)
	for {
		out, err := c.kubectlErr("get", "--raw", "/readyz")
		if err == nil && strings.TrimSpace(out) == "ok" {
			return c
		}
		if time.Now().After(deadline) {
			t.Fatalf("server not ready: %v %s\n%s", err, out, c.log.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// kubectlCmd builds `skiff kubectl args...` with SKIFF_DATA_DIR pointing at
// the cluster, so the bundled kubectl finds the admin kubeconfig by itself.
func (c *cluster) kubectlCmd(ctx context.Context, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, filepath.Join(c.bin, "skiff"), append([]string{"kubectl"}, args...)...)
	if c.netns != "" {
		cmd = exec.CommandContext(ctx, "nsenter", append([]string{"--net=/run/netns/" + c.netns, filepath.Join(c.bin, "skiff"), "kubectl"}, args...)...)
	}
	env := []string{}
	for _, e := range os.Environ() {
		if !strings.HasPrefix(e, "KUBECONFIG=") {
			env = append(env, e)
		}
	}
	cmd.Env = append(env, "SKIFF_DATA_DIR="+c.dataDir, "HOME="+c.dataDir)
	return cmd
}

func (c *cluster) kubectlErr(args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	out, err := c.kubectlCmd(ctx, args...).CombinedOutput()
	return string(out), err
}

// kubectl runs kubectl and fails the test if it fails.
func (c *cluster) kubectl(t *testing.T, args ...string) string {
	t.Helper()
	out, err := c.kubectlErr(args...)
	if err != nil {
		t.Fatalf("kubectl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// kubectlFails runs kubectl expecting it to fail and returns its output.
func (c *cluster) kubectlFails(t *testing.T, args ...string) string {
	t.Helper()
	out, err := c.kubectlErr(args...)
	if err == nil {
		t.Fatalf("kubectl %s succeeded, want failure:\n%s", strings.Join(args, " "), out)
	}
	return out
}

func mustContain(t *testing.T, what, out string, wants ...string) {
	t.Helper()
	for _, w := range wants {
		if !strings.Contains(out, w) {
			t.Errorf("%s: output lacks %q:\n%s", what, w, out)
		}
	}
}

// stopProcess interrupts cmd and waits for it, killing it after grace.
func stopProcess(cmd *exec.Cmd, grace time.Duration) {
	_ = cmd.Process.Signal(os.Interrupt)
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(grace):
		_ = cmd.Process.Kill()
		<-done
	}
}

// killShims ends the containerd shims of a data dir and everything below
// them: shims and their containers outlive containerd by design.
func killShims(dataDir string) {
	out, _ := exec.Command("pgrep", "-f", "containerd-shim.*"+dataDir).Output()
	for _, pid := range strings.Fields(string(out)) {
		killTree(pid)
	}
}
