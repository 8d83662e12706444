package server

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"path/filepath"
	"strconv"
	"time"

	"k8s.io/client-go/rest"

	"skiff/internal/pki"
)

// component is a built-in component `skiff server` runs next to the API
// server. Each talks to the API server only through its own client over
// loopback HTTPS, as it would from another process.
type component struct {
	// name is what --disable names it by.
	name string
	// user is the identity of its client certificate.
	user string
	// run blocks until ctx is done.
	run func(ctx context.Context, rc *rest.Config) error
}

// components lists the built-in components, in start order. Each lives in
// its own file of this package (scheduler.go, controllers.go, ...).
func (s *Server) components() []component {
	var out []component
	for _, c := range builtinComponents(s.cfg) {
		if !s.disabled(c.name) {
			out = append(out, c)
		}
	}
	return out
}

func (s *Server) disabled(name string) bool {
	for _, d := range s.cfg.Disable {
		if d == name {
			return true
		}
	}
	return false
}

// clientConfig returns a loopback client configuration for a component,
// authenticated by its own client certificate.
func (s *Server) clientConfig(user string) (*rest.Config, error) {
	tlsDir := filepath.Join(s.cfg.DataDir, "tls")
	ca, err := pki.LoadOrCreateCA(tlsDir)
	if err != nil {
		return nil, err
	}
	// Until RBAC lands every component acts with full rights.
	certFile, keyFile, err := ca.IssueClient(tlsDir, "client-"+sanitize(user), user, []string{"system:masters"})
	if err != nil {
		return nil, fmt.Errorf("client certificate for %s: %w", user, err)
	}
	return &rest.Config{
		Host: "https://" + net.JoinHostPort("127.0.0.1", strconv.Itoa(s.port)),
		TLSClientConfig: rest.TLSClientConfig{
			CAFile: ca.CertFile(), CertFile: certFile, KeyFile: keyFile,
		},
		UserAgent: user,
		QPS:       -1, // the loopback clients are not rate limited
	}, nil
}

func sanitize(s string) string {
	out := []byte(s)
	for i, c := range out {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			out[i] = '-'
		}
	}
	return string(out)
}

// startComponents starts every enabled component in its own goroutine.
func (s *Server) startComponents(ctx context.Context) error {
	for _, c := range s.components() {
		rc, err := s.clientConfig(c.user)
		if err != nil {
			return err
		}
		s.compWG.Go(func() { supervise(ctx, s.cfg.Logger, c, rc) })
	}
	return nil
}

// supervise runs a component until ctx is done, starting it again (after a
// back-off) when it fails: a scheduler or controller manager that lost its
// Lease, a node agent whose runtime went away. The server itself stays up.
func supervise(ctx context.Context, log *slog.Logger, c component, rc *rest.Config) {
	backoff := time.Second
	for {
		started := time.Now()
		err := c.run(ctx, rc)
		if ctx.Err() != nil {
			return
		}
		if time.Since(started) > time.Minute {
			backoff = time.Second
		}
		log.Error("component stopped; restarting", "component", c.name, "err", err, "after", backoff)
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 30*time.Second)
	}
}
