package e2e

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestStreams drives kubectl logs, exec and port-forward against a real
// pod, through the API server's pod subresources to the node agent and
// containerd's streaming server.
func TestStreams(t *testing.T) {
	c := startNode(t)
	manifest := fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata:
  name: streams
spec:
  containers:
  - name: main
    image: %s
    command: ["sh", "-c", "echo hello-index > /tmp/index.html; echo one; echo two; echo three; (i=0; while true; do echo tick-$i; i=$((i+1)); sleep 1; done) & exec httpd -f -p 8080 -h /tmp"]
    ports:
    - containerPort: 8080
`, testImage)
	f := filepath.Join(t.TempDir(), "streams.yaml")
	if err := os.WriteFile(f, []byte(manifest), 0o644); err != nil {
		t.Fatal(err)
	}
	c.kubectl(t, "apply", "-f", f)
	// A container that exits and is restarted, for logs --previous.
	c.kubectl(t, "run", "restarter", "--image="+testImage, "--restart=Always", "--command", "--", "sh", "-c", "echo started; sleep 1; exit 1")
	c.kubectl(t, "wait", "--for=condition=Ready", "pod/streams", "--timeout=120s")

	t.Run("logs", func(t *testing.T) {
		out := waitFor(t, func() (string, bool) {
			out, err := c.kubectlErr("logs", "streams")
			return out, err == nil && strings.Contains(out, "tick-0")
		})
		if !strings.HasPrefix(out, "one\ntwo\nthree\n") {
			t.Errorf("logs = %q, want it to start with one, two, three", out)
		}
		out = c.kubectl(t, "logs", "streams", "-c", "main", "--tail=1")
		if lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n"); len(lines) != 1 || !strings.HasPrefix(lines[0], "tick-") {
			t.Errorf("logs --tail=1 = %q", out)
		}
		out = c.kubectl(t, "logs", "streams", "--timestamps", "--tail=1")
		if !regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z tick-\d+\n$`).MatchString(out) {
			t.Errorf("logs --timestamps --tail=1 = %q", out)
		}
		out = c.kubectl(t, "logs", "streams", "--since=1h")
		mustContain(t, "logs --since", out, "one\n")
		out = c.kubectlFails(t, "logs", "streams", "--previous")
		mustContain(t, "logs --previous", out, "previous terminated container")
	})

	t.Run("logs follow", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		cmd := c.kubectlCmd(ctx, "logs", "-f", "--tail=0", "streams")
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		defer func() { cancel(); _ = cmd.Wait() }()
		// Lines written after the request started arrive while it runs.
		sc := bufio.NewScanner(stdout)
		got := 0
		for got < 2 && sc.Scan() {
			if strings.HasPrefix(sc.Text(), "tick-") {
				got++
			}
		}
		if got < 2 {
			t.Fatalf("logs -f: got %d new lines before the stream ended (%v)", got, ctx.Err())
		}
	})

	t.Run("exec", func(t *testing.T) {
		// At -v=4 kubectl says when it falls back from WebSocket to SPDY:
		// the API server translates, so it must not need to.
		out := c.kubectl(t, "exec", "-v=4", "streams", "--", "cat", "/etc/passwd")
		mustContain(t, "exec cat", out, "root:x:0:0")
		if strings.Contains(strings.ToLower(out), "fallback") {
			t.Errorf("exec fell back to SPDY:\n%s", out)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		cmd := c.kubectlCmd(ctx, "exec", "-i", "streams", "--", "cat")
		cmd.Stdin = strings.NewReader("from-stdin\nsecond line\n")
		b, err := cmd.CombinedOutput()
		if err != nil || string(b) != "from-stdin\nsecond line\n" {
			t.Errorf("exec -i cat = %q, %v", b, err)
		}
		out = c.kubectlFails(t, "exec", "streams", "--", "sh", "-c", "echo to-stderr >&2; exit 7")
		mustContain(t, "exec exit 7", out, "to-stderr", "exit code 7")
	})

	t.Run("websocket protocols", func(t *testing.T) { testWebSockets(t, c, "streams") })

	t.Run("ephemeral container", func(t *testing.T) {
		// kubectl debug adds an ephemeral container to the running pod;
		// it runs beside the others and takes exec like them.
		c.kubectl(t, "debug", "streams", "--image="+testImage, "--container=debugger", "--", "sleep", "600")
		waitFor(t, func() (string, bool) {
			out, err := c.kubectlErr("get", "pod", "streams", "-o", "jsonpath={.status.ephemeralContainerStatuses[0].state.running.startedAt}")
			return out, err == nil && out != ""
		})
		out := c.kubectl(t, "exec", "streams", "-c", "debugger", "--", "echo", "marco")
		if strings.TrimSpace(out) != "marco" {
			t.Errorf("exec in the ephemeral container = %q", out)
		}
	})

	t.Run("attach", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		cmd := c.kubectlCmd(ctx, "attach", "streams", "-c", "main")
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		defer func() { cancel(); _ = cmd.Wait() }()
		// The main process's output from now on reaches the client.
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if strings.HasPrefix(sc.Text(), "tick-") {
				return
			}
		}
		t.Fatalf("attach: no output before the stream ended (%v)", ctx.Err())
	})

	t.Run("exec tty", func(t *testing.T) {
		script, err := exec.LookPath("script")
		if err != nil {
			t.Skip("script(1) is needed for a terminal")
		}
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		// script gives kubectl a terminal, so that -t takes effect.
		k := c.kubectlCmd(ctx)
		cmd := exec.CommandContext(ctx, script, "-qfec", k.Path+" kubectl exec -it streams -- sh", "/dev/null")
		cmd.Env = k.Env
		cmd.Stdin = strings.NewReader("tty; echo done-$((6*7)); exit 5\n")
		b, err := cmd.CombinedOutput()
		mustContain(t, "exec -it sh", string(b), "/dev/pts/", "done-42")
		if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 5 {
			t.Errorf("exec -it exit = %v, want exit status 5\n%s", err, b)
		}
	})

	t.Run("logs previous", func(t *testing.T) {
		waitFor(t, func() (string, bool) {
			out, err := c.kubectlErr("get", "pod", "restarter", "-o", "jsonpath={.status.containerStatuses[0].restartCount}")
			return out, err == nil && out != "" && out != "0"
		})
		out := c.kubectl(t, "logs", "restarter", "--previous")
		if out != "started\n" {
			t.Errorf("logs --previous = %q, want started", out)
		}
	})

	t.Run("port-forward", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		cmd := c.kubectlCmd(ctx, "port-forward", "-v=4", "pod/streams", ":8080", "--address=127.0.0.1")
		var stderr lockedBuffer
		cmd.Stderr = &stderr
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		defer func() { cancel(); _ = cmd.Wait() }()
		re := regexp.MustCompile(`Forwarding from 127\.0\.0\.1:(\d+) -> 8080`)
		sc := bufio.NewScanner(stdout)
		port := ""
		for port == "" && sc.Scan() {
			if m := re.FindStringSubmatch(sc.Text()); m != nil {
				port = m[1]
			}
		}
		if port == "" {
			t.Fatalf("port-forward printed no local port (%v)", ctx.Err())
		}
		go func() { _, _ = io.Copy(io.Discard, stdout) }()
		for i := 0; i < 2; i++ {
			resp, err := (&http.Client{Timeout: 10 * time.Second}).Get("http://127.0.0.1:" + port + "/")
			if err != nil {
				t.Fatalf("GET through port-forward: %v", err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if strings.TrimSpace(string(body)) != "hello-index" {
				t.Errorf("GET through port-forward = %q", body)
			}
		}
		// The API server unwraps the WebSocket tunnel: no fallback to SPDY.
		if strings.Contains(stderr.String(), "fallback") || !strings.Contains(stderr.String(), "Negotiation complete") {
			t.Errorf("port-forward fell back to SPDY:\n%s", stderr.String())
		}
	})
}

// waitFor polls check until it reports done, for up to a minute, and
// returns its last output.
func waitFor(t *testing.T, check func() (string, bool)) string {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		out, ok := check()
		if ok {
			return out
		}
		if time.Now().After(deadline) {
			t.Fatalf("condition not met; last output:\n%s", out)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
