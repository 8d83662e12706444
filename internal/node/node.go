package node

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"k8s.io/client-go/rest"
)

// Components are the node's components, by the names Config.Disable and
// `skiff server --disable` take.
var Components = []string{"agent", "dns", "proxy", "ingress"}

// Users of the node components' clients.
const (
	ProxyUser   = "system:kube-proxy"
	DNSUser     = "system:skiff-dns"
	IngressUser = "system:skiff-ingress"
)

// AgentUserPrefix starts the user names of node agents, and NodesGroup is
// their group, as upstream's Node authorizer knows them.
const (
	AgentUserPrefix = "system:node:"
	NodesGroup      = "system:nodes"
)

// AgentUser is the identity of the agent of the node named nodeName.
func AgentUser(nodeName string) string { return AgentUserPrefix + nodeName }

// Credentials are what a node's components authenticate with.
type Credentials interface {
	// RESTConfig returns the client configuration of the component acting
	// as user (AgentUser, ProxyUser, DNSUser or IngressUser).
	RESTConfig(user string) (*rest.Config, error)
	// KubeletServing returns the kubelet API's serving certificate and key
	// files for the node's name and addresses, and the CA pool the API
	// server's client certificate must chain to.
	KubeletServing(nodeName string, nodeIPs []string) (certFile, keyFile string, clientCAs *x509.CertPool, err error)
}

// Config is the configuration of a node.
type Config struct {
	// DataDir holds containerd, the pods' logs and volumes, and the images
	// folder imported at start (default /var/lib/skiff).
	DataDir string
	// NodeName is the node's name (default: the hostname, lowercased).
	NodeName string
	// NodeIP is the node's address (default: the first host address).
	NodeIP net.IP
	// ControlPlane labels the node as a control-plane node.
	ControlPlane bool
	// ServiceCIDR is the ClusterIP range the proxy serves (required).
	ServiceCIDR string
	// ClusterDomain is the cluster's DNS domain (cluster.local).
	ClusterDomain string
	// ClusterDNS is the cluster DNS Service's ClusterIP, written into pods'
	// resolv.conf; the DNS component publishes the kube-dns Service at it.
	ClusterDNS string
	// DNSPort is where the DNS component listens at NodeIP (53).
	DNSPort int
	// IngressHTTPPort and IngressHTTPSPort are where the ingress
	// controller listens, on every address of the host (80 and 443).
	IngressHTTPPort, IngressHTTPSPort int
	// ContainerRuntimeEndpoint, when set, is an existing CRI socket the
	// agent uses instead of starting containerd itself.
	ContainerRuntimeEndpoint string
	// SimulateRuntime runs the agent with the simulated runtime: its pods
	// are reported running but no container runs.
	SimulateRuntime bool
	// PodManifestPath is the agent's folder of static pod manifests
	// (default <DataDir>/agent/pod-manifests, as k3s has it).
	PodManifestPath string
	// Disable lists components (see Components) not to run.
	Disable []string
	// Credentials authenticate the components (required).
	Credentials Credentials
	// Logger receives the node's logs; nil discards.
	Logger *slog.Logger
}

func (c *Config) setDefaults() {
	if c.DataDir == "" {
		c.DataDir = "/var/lib/skiff"
	}
	if c.NodeName == "" {
		c.NodeName = HostName()
	}
	if c.ClusterDomain == "" {
		c.ClusterDomain = "cluster.local"
	}
	if c.DNSPort == 0 {
		c.DNSPort = 53
	}
	if c.IngressHTTPPort == 0 {
		c.IngressHTTPPort = 80
	}
	if c.IngressHTTPSPort == 0 {
		c.IngressHTTPSPort = 443
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
}

func (c *Config) validate() error {
	for _, d := range c.Disable {
		if !slices.Contains(Components, d) {
			return fmt.Errorf("disable %q: not a node component (%s)", d, strings.Join(Components, ", "))
		}
	}
	if c.Credentials == nil {
		return errors.New("node: no credentials")
	}
	if c.NodeIP == nil {
		return errors.New("node: no node IP")
	}
	if _, _, err := net.ParseCIDR(c.ServiceCIDR); err != nil {
		return fmt.Errorf("service CIDR %q: %w", c.ServiceCIDR, err)
	}
	return nil
}

// component is one of the node's components. Each talks to the API server
// only through its own client.
type component struct {
	name string
	user string
	// run blocks until ctx is done.
	run func(ctx context.Context, rc *rest.Config) error
}

// Node is a node's set of components, ready to run.
type Node struct {
	cfg  Config
	runs []run
}

type run struct {
	c  component
	rc *rest.Config
}

// New checks cfg and gets the enabled components' client configurations.
func New(cfg Config) (*Node, error) {
	cfg.setDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	n := &Node{cfg: cfg}
	for _, c := range []component{agentComponent(cfg), proxyComponent(cfg), dnsComponent(cfg), ingressComponent(cfg)} {
		if slices.Contains(cfg.Disable, c.name) {
			continue
		}
		rc, err := cfg.Credentials.RESTConfig(c.user)
		if err != nil {
			return nil, fmt.Errorf("%s credentials: %w", c.name, err)
		}
		n.runs = append(n.runs, run{c, rc})
	}
	return n, nil
}

// Name is the node's name (the configured one, or the hostname).
func (n *Node) Name() string { return n.cfg.NodeName }

// Run runs the node's components until ctx is done, restarting one that
// fails, and returns once they have all stopped.
func (n *Node) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	for _, r := range n.runs {
		wg.Go(func() {
			Supervise(ctx, n.cfg.Logger, r.c.name, func(ctx context.Context) error { return r.c.run(ctx, r.rc) })
		})
	}
	wg.Wait()
	return nil
}

// Supervise runs a component until ctx is done, starting it again (after a
// back-off) when it fails: a scheduler or controller manager that lost its
// Lease, a node agent whose runtime went away. The process stays up.
func Supervise(ctx context.Context, log *slog.Logger, name string, run func(ctx context.Context) error) {
	backoff := time.Second
	for {
		started := time.Now()
		err := run(ctx)
		if ctx.Err() != nil {
			return
		}
		if time.Since(started) > time.Minute {
			backoff = time.Second
		}
		log.Error("component stopped; restarting", "component", name, "err", err, "after", backoff)
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 30*time.Second)
	}
}

// hostName is this host's name, lowercased as node names must be.
// HostName is a node's default name: the host's name in lower case.
func HostName() string {
	h, err := os.Hostname()
	if err != nil || h == "" {
		return "localhost"
	}
	return strings.ToLower(h)
}
