package server

import (
	"cmp"
	"context"
	"fmt"
	"net"
	"path/filepath"
	"slices"
	"strconv"

	"k8s.io/apimachinery/pkg/util/uuid"
	"k8s.io/client-go/rest"

	"skiff/internal/apiserver/auth"
	"skiff/internal/node"
	"skiff/internal/pki"
	"skiff/internal/scheduler"
)

// component is a control-plane component `skiff server` runs next to the
// API server. Each talks to the API server only through its own client
// over loopback HTTPS, as it would from another process.
type component struct {
	// name is what --disable names it by.
	name string
	// user is the identity of its client certificate (it has no groups:
	// its rights are the default roles bound to the user).
	user string
	// run blocks until ctx is done.
	run func(ctx context.Context, rc *rest.Config) error
}

// components lists the enabled control-plane components, in start order.
func (s *Server) components() []component {
	var out []component
	for _, c := range []component{controllersComponent(s.cfg), schedulerComponent(s.cfg)} {
		if !slices.Contains(s.cfg.Disable, c.name) {
			out = append(out, c)
		}
	}
	return out
}

// knownDisableNames are what --disable accepts: components and single
// controllers.
func knownDisableNames() map[string]bool {
	names := map[string]bool{}
	for _, c := range Components {
		names[c] = true
	}
	for _, n := range ControllerNames() {
		names[n] = true
	}
	return names
}

// schedulerComponent runs the scheduler under the kube-scheduler Lease,
// with the profiles of cfg.SchedulerConfigFile (a KubeSchedulerConfiguration)
// or the default one.
func schedulerComponent(cfg Config) component {
	return component{
		name: "scheduler",
		user: auth.SchedulerUser,
		run: func(ctx context.Context, rc *rest.Config) error {
			s, err := scheduler.New(scheduler.Config{Rest: rc, ConfigFile: cfg.SchedulerConfigFile, Identity: leaseIdentity(cfg), Logger: cfg.Logger})
			if err != nil {
				return err
			}
			return s.Run(ctx)
		},
	}
}

// clientConfig returns a loopback client configuration for a component,
// authenticated by its own client certificate as user in groups. A
// component acts with the rights the default policy binds to its user (or
// groups), never as system:masters: a fault in one cannot own the cluster.
// client-go reads the files again as the renewal loop replaces them.
func (s *Server) clientConfig(user string, groups ...string) (*rest.Config, error) {
	tlsDir := filepath.Join(s.cfg.DataDir, "tls")
	certFile, keyFile, ca, err := s.certs.issue(pki.Leaf{CADir: tlsDir, Dir: tlsDir, Name: "client-" + sanitize(user), Kind: pki.ClientLeaf,
		User: user, Groups: groups})
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

// leaseIdentity is the holder identity of this server's scheduler and
// controllers in their Leases: the node name, which, unlike the host
// name, differs between servers in containers, and a unique suffix.
func leaseIdentity(cfg Config) string {
	return cmp.Or(cfg.NodeName, node.HostName()) + "_" + string(uuid.NewUUID())
}
