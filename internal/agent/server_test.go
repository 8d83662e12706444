package agent

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/fake"
)

// serverRuntime lists fixed containers; the rest of Runtime is unused.
type serverRuntime struct {
	Runtime
	containers []Container
}

func (r serverRuntime) ListContainers(context.Context, types.UID) ([]Container, error) {
	return r.containers, nil
}

// urlStreams records what it was asked and points at a test server.
type urlStreams struct {
	url string
	got *StreamRequest
}

func (s urlStreams) ExecURL(_ context.Context, id string, req StreamRequest) (string, error) {
	*s.got = req
	return s.url + "/exec/" + id, nil
}

func (s urlStreams) AttachURL(_ context.Context, id string, req StreamRequest) (string, error) {
	*s.got = req
	return s.url + "/attach/" + id, nil
}

func (s urlStreams) PortForwardURL(context.Context, string, []int32) (string, error) {
	return s.url + "/portforward/x", nil
}

func TestServer(t *testing.T) {
	logDir := t.TempDir()
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "p", UID: "u1"}, Spec: corev1.PodSpec{NodeName: "n1"}}
	other := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "elsewhere", UID: "u2"}, Spec: corev1.PodSpec{NodeName: "n2"}}
	dir := filepath.Join(logDir, "ns_p_u1", "c")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "0.log"), []byte("2026-11-26T14:00:01Z stdout F a\n2026-11-26T14:00:02Z stdout F b\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	runtimeSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "runtime saw "+r.URL.Path)
	}))
	defer runtimeSrv.Close()
	var got StreamRequest
	s, err := NewServer(ServerConfig{
		NodeName: "n1",
		Client:   fake.NewClientset(pod, other),
		Runtime:  serverRuntime{containers: []Container{{ID: "old", Name: "c", Attempt: 0, State: ContainerExited}, {ID: "cid", Name: "c", Attempt: 1, State: ContainerRunning}}},
		Streams:  urlStreams{url: runtimeSrv.URL, got: &got},
		LogDir:   logDir,
	})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(s.Handler())
	defer srv.Close()
	tests := []struct {
		name, method, path string
		wantCode           int
		wantBody           string
	}{
		{name: "logs", method: "GET", path: "/containerLogs/ns/p/c", wantCode: 200, wantBody: "a\nb\n"},
		{name: "logs tail", method: "GET", path: "/containerLogs/ns/p/c?tailLines=1", wantCode: 200, wantBody: "b\n"},
		{name: "logs previous missing", method: "GET", path: "/containerLogs/ns/p/c?previous=true", wantCode: 400, wantBody: "previous terminated container \"c\" in pod \"p\" not found\n"},
		{name: "logs bad tail", method: "GET", path: "/containerLogs/ns/p/c?tailLines=x", wantCode: 400, wantBody: "container logs: bad tailLines \"x\"\n"},
		{name: "pod on another node", method: "GET", path: "/containerLogs/ns/elsewhere/c", wantCode: 404, wantBody: "pod ns/elsewhere is not on node n1\n"},
		{name: "unknown pod", method: "GET", path: "/containerLogs/ns/nope/c", wantCode: 404, wantBody: "pod ns/nope not found\n"},
		{name: "exec goes to the newest container", method: "POST", path: "/exec/ns/p/c?command=ls&command=-l&stdin=1&stdout=1&tty=true", wantCode: 200, wantBody: "runtime saw /exec/cid"},
		{name: "exec unknown container", method: "POST", path: "/exec/ns/p/zz?command=ls", wantCode: 400, wantBody: "container zz not found or not running in pod ns/p\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest(tt.method, srv.URL+tt.path, nil)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tt.wantCode {
				t.Errorf("code = %d, want %d (%s)", resp.StatusCode, tt.wantCode, body)
			}
			if diff := cmp.Diff(tt.wantBody, string(body)); diff != "" {
				t.Errorf("body (-want +got):\n%s", diff)
			}
		})
	}
	if diff := cmp.Diff(StreamRequest{Command: []string{"ls", "-l"}, Stdin: true, Stdout: true, TTY: true}, got); diff != "" {
		t.Errorf("exec request (-want +got):\n%s", diff)
	}
}
