package integration

import (
	"context"
	"log/slog"
	"os"
	"testing"
	"time"

	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"skiff/internal/server"
)

// testServer is one in-process skiff control plane.
type testServer struct {
	*server.Server
	dataDir string
	config  *rest.Config
}

// startServer starts a control plane on free ports in a temporary data dir
// (or dataDir, to restart on an existing one) and stops it at cleanup.
func startServer(t *testing.T, dataDir string, configure func(*server.Config)) *testServer {
	t.Helper()
	if dataDir == "" {
		dataDir = t.TempDir()
	}
	cfg := server.Config{
		DataDir:       dataDir,
		BindAddress:   "127.0.0.1",
		HTTPSPort:     -1,
		EtcdClientURL: "http://127.0.0.1:0",
		EtcdPeerURL:   "http://127.0.0.1:0",
		DisableAgent:  true,
		// These tests are about the API server: no scheduler or controllers
		// acting on the objects they create.
		Disable: []string{"scheduler", "controllers"},
		Logger:  testLogger(),
	}
	if configure != nil {
		configure(&cfg)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := server.Start(ctx, cfg)
	if err != nil {
		t.Fatalf("start server: %v", err)
	}
	ts := &testServer{Server: s, dataDir: dataDir}
	t.Cleanup(ts.Close)
	rc, err := clientcmd.BuildConfigFromFlags("", s.AdminKubeconfig())
	if err != nil {
		t.Fatalf("load kubeconfig: %v", err)
	}
	rc.QPS, rc.Burst = 1000, 1000
	ts.config = rc
	return ts
}

func testLogger() *slog.Logger {
	if os.Getenv("SKIFF_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

func (ts *testServer) client(t *testing.T) kubernetes.Interface {
	t.Helper()
	c, err := kubernetes.NewForConfig(ts.config)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func (ts *testServer) protobufClient(t *testing.T) kubernetes.Interface {
	t.Helper()
	rc := rest.CopyConfig(ts.config)
	rc.ContentType = "application/vnd.kubernetes.protobuf"
	rc.AcceptContentTypes = "application/vnd.kubernetes.protobuf,application/json"
	c, err := kubernetes.NewForConfig(rc)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func (ts *testServer) dynamic(t *testing.T) dynamic.Interface {
	t.Helper()
	c, err := dynamic.NewForConfig(ts.config)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// eventually polls cond until it returns true or the deadline passes.
func eventually(t *testing.T, timeout time.Duration, what string, cond func() (bool, error)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var lastErr error
	for time.Now().Before(deadline) {
		ok, err := cond()
		if ok {
			return
		}
		lastErr = err
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("timed out waiting for %s (last error: %v)", what, lastErr)
}
