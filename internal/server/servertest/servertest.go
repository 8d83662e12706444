package servertest

import (
	"context"
	"os"
	"slices"
	"testing"
	"time"

	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"skiff/internal/controller/serviceaccount"
	"skiff/internal/server"
)

// startTimeout bounds a start; the server is usually up in well under a
// second, a loaded test machine may take a few.
const startTimeout = 30 * time.Second

// Server is a running in-process control plane.
type Server struct {
	*server.Server
	// DataDir is the server's data dir; pass it to another Start (after
	// Close) to restart on the same data.
	DataDir string
	// Config is an admin client configuration, not rate limited. Copy it
	// (rest.CopyConfig) before changing it.
	Config *rest.Config
	// Client is an admin client built from Config.
	Client kubernetes.Interface
}

// Start starts a control plane with the defaults described in the package
// documentation, changed by configure if it is not nil, and closes it when
// the test ends.
func Start(t testing.TB, configure func(*server.Config)) *Server {
	t.Helper()
	cfg := server.Config{
		DataDir:       t.TempDir(),
		BindAddress:   "127.0.0.1",
		HTTPSPort:     -1,
		EtcdClientURL: "https://127.0.0.1:0",
		EtcdPeerURL:   "https://127.0.0.1:0",
		DisableAgent:  true,
		Disable:       []string{"scheduler", "controllers"},
		Logger:        Logger(),
	}
	if configure != nil {
		configure(&cfg)
	}
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	s, err := server.Start(ctx, cfg)
	if err != nil {
		t.Fatalf("start server: %v", err)
	}
	t.Cleanup(s.Close)
	rc, err := clientcmd.BuildConfigFromFlags("", s.AdminKubeconfig())
	if err != nil {
		t.Fatalf("load admin kubeconfig: %v", err)
	}
	rc.QPS, rc.Burst = -1, 1000
	if err := inMemory(rc); err != nil {
		t.Fatalf("admin kubeconfig: %v", err)
	}
	client, err := kubernetes.NewForConfig(rc)
	if err != nil {
		t.Fatalf("admin client: %v", err)
	}
	ts := &Server{Server: s, DataDir: cfg.DataDir, Config: rc, Client: client}
	if slices.Contains(cfg.Disable, "controllers") {
		// Pods need their service account to exist (the ServiceAccount
		// admission plugin refuses them otherwise), so even a bare server
		// runs the controller that makes every namespace's "default".
		ts.RunController(t, serviceaccount.NewServiceAccounts, nil)
	}
	return ts
}

// Dynamic returns an admin dynamic client.
func (s *Server) Dynamic(t testing.TB) dynamic.Interface {
	t.Helper()
	c, err := dynamic.NewForConfig(s.Config)
	if err != nil {
		t.Fatalf("dynamic client: %v", err)
	}
	return c
}

// ClientFor returns an admin client whose configuration configure changed
// (a content type, a user agent, ...).
func (s *Server) ClientFor(t testing.TB, configure func(*rest.Config)) kubernetes.Interface {
	t.Helper()
	rc := rest.CopyConfig(s.Config)
	configure(rc)
	c, err := kubernetes.NewForConfig(rc)
	if err != nil {
		t.Fatalf("client: %v", err)
	}
	return c
}

// inMemory loads the files rc names (CA, client certificate and key) into
// rc, so that its clients hold them in memory: with files, client-go
// watches them for renewal in goroutines that outlive a test until its
// transports are collected.
func inMemory(rc *rest.Config) error {
	for _, f := range []struct {
		file *string
		data *[]byte
	}{{&rc.CAFile, &rc.CAData}, {&rc.CertFile, &rc.CertData}, {&rc.KeyFile, &rc.KeyData}} {
		if *f.file == "" {
			continue
		}
		b, err := os.ReadFile(*f.file)
		if err != nil {
			return err
		}
		*f.data, *f.file = b, ""
	}
	return nil
}
