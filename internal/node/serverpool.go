package node

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http/httptrace"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"skiff/internal/pki"
)

// APIServerName is the name a node checks every API server's certificate
// against when it dials the servers of a ServerPool: each server's serving
// certificate carries it (pki.DefaultAPIServerSANs), whatever address the
// node reached it at.
const APIServerName = "kubernetes.default.svc"

// ServerPoolConfig configures a ServerPool.
type ServerPoolConfig struct {
	// Default is the host:port of the server the node joined through
	// (--server). It stays a candidate whatever the cluster lists, so a
	// node can always find its way back in (required).
	Default string
	// File keeps the list of servers across restarts, so that a node
	// whose Default server is down at start reaches another; empty keeps
	// the list in memory only.
	File string
	// DialTimeout bounds one connection attempt to one server before the
	// next is tried (default 3 s).
	DialTimeout time.Duration
	// RefreshInterval is how often Run reads the servers from the cluster
	// (default 10 s), and RefreshTimeout how long one read may take
	// (default 5 s) before the server that failed to answer is left.
	RefreshInterval time.Duration
	RefreshTimeout  time.Duration
	// Logger receives the pool's logs; nil discards.
	Logger *slog.Logger
}

func (c *ServerPoolConfig) setDefaults() {
	if c.DialTimeout == 0 {
		c.DialTimeout = 3 * time.Second
	}
	if c.RefreshInterval == 0 {
		c.RefreshInterval = 10 * time.Second
	}
	if c.RefreshTimeout == 0 {
		c.RefreshTimeout = 5 * time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
}

func (c *ServerPoolConfig) validate() error {
	if !validServer(c.Default) {
		return fmt.Errorf("server pool: default server %q: not a host:port", c.Default)
	}
	if c.DialTimeout < 0 || c.RefreshInterval < 0 || c.RefreshTimeout < 0 {
		return errors.New("server pool: negative duration")
	}
	return nil
}

// ServerPool is a node's client-side load balancer over the cluster's API
// servers. Its DialContext is the dialer of the node's clients: it
// ignores the address the client asks for and connects to the server it
// prefers, trying the others when that one does not answer, so a node
// keeps talking to the cluster while any one server is up. Run keeps the
// list of servers equal to the kubernetes Service's endpoints.
//
// No port is opened: the pool lives inside the clients' transports,
// which check each server's certificate against APIServerName.
type ServerPool struct {
	cfg    ServerPoolConfig
	dialer net.Dialer

	mu sync.Mutex
	// servers are the servers the cluster last listed, sorted.
	servers []string
	// preferred is the server dialled first: the one that last answered.
	preferred string
	// conns are the open connections by server, so that leaving a server
	// closes them and their clients redial.
	conns map[string]map[*poolConn]struct{}
}

// NewServerPool returns a pool of cfg.Default and the servers cfg.File
// lists (none if it is missing or unreadable).
func NewServerPool(cfg ServerPoolConfig) (*ServerPool, error) {
	cfg.setDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	// The server the node was pointed at is tried first until another
	// answers in its place.
	p := &ServerPool{cfg: cfg, preferred: cfg.Default, conns: map[string]map[*poolConn]struct{}{},
		dialer: net.Dialer{Timeout: cfg.DialTimeout, KeepAlive: 30 * time.Second}}
	if cfg.File != "" {
		servers, err := readServers(cfg.File)
		if err != nil {
			// The list is a cache the cluster refills: a damaged one
			// costs a node its fallbacks until then, not its start.
			cfg.Logger.Warn("the saved API server list is unreadable; starting from the default server", "err", err)
		}
		p.servers = servers
	}
	return p, nil
}

// ServerAddress is the host:port of a server URL such as
// https://10.0.0.1:6443; with no port, HTTPS's own.
func ServerAddress(serverURL string) (string, error) {
	u, err := url.Parse(serverURL)
	if err != nil {
		return "", fmt.Errorf("server %q: %w", serverURL, err)
	}
	if u.Hostname() == "" {
		return "", fmt.Errorf("server %q: no host", serverURL)
	}
	port := u.Port()
	if port == "" {
		port = "443"
	}
	return net.JoinHostPort(u.Hostname(), port), nil
}

// Servers returns the servers the pool dials, in the order it tries them.
func (p *ServerPool) Servers() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.candidatesLocked()
}

// candidatesLocked is the dial order: the preferred server, the listed
// ones, then the default.
func (p *ServerPool) candidatesLocked() []string {
	out := make([]string, 0, len(p.servers)+2)
	add := func(a string) {
		if a != "" && !slices.Contains(out, a) {
			out = append(out, a)
		}
	}
	add(p.preferred)
	for _, s := range p.servers {
		add(s)
	}
	add(p.cfg.Default)
	return out
}

// DialContext connects to the first server of the pool that answers
// within the dial timeout, whatever addr names, and prefers that server
// from then on. Its signature is rest.Config's Dial.
func (p *ServerPool) DialContext(ctx context.Context, network, _ string) (net.Conn, error) {
	var errs []error
	for _, addr := range p.Servers() {
		if ctx.Err() != nil {
			errs = append(errs, ctx.Err())
			break
		}
		conn, err := p.dialer.DialContext(ctx, network, addr)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		return p.track(addr, conn), nil
	}
	return nil, fmt.Errorf("dial the API servers: %w", errors.Join(errs...))
}

// track makes addr the preferred server and records conn under it.
func (p *ServerPool) track(addr string, conn net.Conn) net.Conn {
	c := &poolConn{Conn: conn, addr: addr, pool: p}
	p.mu.Lock()
	if p.preferred != addr {
		p.cfg.Logger.Info("API server chosen", "server", addr, "previous", p.preferred)
		p.preferred = addr
	}
	if p.conns[addr] == nil {
		p.conns[addr] = map[*poolConn]struct{}{}
	}
	p.conns[addr][c] = struct{}{}
	p.mu.Unlock()
	return c
}

// leave stops preferring addr and closes the connections to it, so that
// requests on them fail now instead of when the HTTP/2 health check
// notices, and their clients redial another server.
func (p *ServerPool) leave(addr string) {
	p.mu.Lock()
	if p.preferred == addr {
		p.preferred = ""
		// The next server after addr in the usual order.
		c := p.candidatesLocked()
		if i := slices.Index(c, addr); i >= 0 && len(c) > 1 {
			p.preferred = c[(i+1)%len(c)]
		}
	}
	conns := p.conns[addr]
	delete(p.conns, addr)
	p.mu.Unlock()
	for c := range conns {
		_ = c.Conn.Close()
	}
}

// serverOf is the pool address of the open connection to remote (an
// ip:port), or "" when the pool holds none.
func (p *ServerPool) serverOf(remote string) string {
	p.mu.Lock()
	defer p.mu.Unlock()
	for addr, conns := range p.conns {
		for c := range conns {
			if c.RemoteAddr().String() == remote {
				return addr
			}
		}
	}
	return ""
}

// SetServers replaces the listed servers with servers and persists them.
// An empty list is ignored: a cluster that lists no server at the moment
// (its servers' Leases lapsed together) is no reason to forget them.
// Connections to servers no longer listed are closed; the default server
// stays a candidate. It reports whether the list changed.
func (p *ServerPool) SetServers(servers []string) (bool, error) {
	servers = slices.Compact(slices.Sorted(slices.Values(servers)))
	if len(servers) == 0 {
		return false, nil
	}
	p.mu.Lock()
	if slices.Equal(servers, p.servers) {
		p.mu.Unlock()
		return false, nil
	}
	p.servers = servers
	var gone []string
	for addr := range p.conns {
		if addr != p.cfg.Default && !slices.Contains(servers, addr) {
			gone = append(gone, addr)
		}
	}
	if p.preferred != "" && p.preferred != p.cfg.Default && !slices.Contains(servers, p.preferred) {
		p.preferred = ""
	}
	p.mu.Unlock()
	p.cfg.Logger.Info("API servers changed", "servers", servers)
	for _, addr := range gone {
		p.leave(addr)
	}
	if p.cfg.File == "" {
		return true, nil
	}
	return true, writeServers(p.cfg.File, servers)
}

// Refresh reads the kubernetes Service's endpoints through client and
// makes them the pool's servers. When the server that was asked fails to
// answer (a timeout, a broken connection, a 5xx), the pool leaves it, so
// that the node's clients move to another server at once.
func (p *ServerPool) Refresh(ctx context.Context, client kubernetes.Interface) error {
	var mu sync.Mutex
	var remote string
	trace := &httptrace.ClientTrace{GotConn: func(info httptrace.GotConnInfo) {
		mu.Lock()
		remote = info.Conn.RemoteAddr().String()
		mu.Unlock()
	}}
	rctx, cancel := context.WithTimeout(httptrace.WithClientTrace(ctx, trace), p.cfg.RefreshTimeout)
	defer cancel()
	ep, err := client.CoreV1().Endpoints(metav1.NamespaceDefault).Get(rctx, "kubernetes", metav1.GetOptions{})
	if err != nil {
		mu.Lock()
		used := remote
		mu.Unlock()
		if ctx.Err() == nil && serverFailed(err) && used != "" {
			if addr := p.serverOf(used); addr != "" {
				p.cfg.Logger.Warn("API server failed to answer; leaving it", "server", addr, "err", err)
				p.leave(addr)
			}
		}
		return fmt.Errorf("read the kubernetes endpoints: %w", err)
	}
	_, err = p.SetServers(ServersFromEndpoints(ep))
	return err
}

// serverFailed tells a server that failed (no answer, or a 5xx) from one
// that answered and refused (4xx): only the first is worth leaving.
func serverFailed(err error) bool {
	var status apierrors.APIStatus
	if errors.As(err, &status) {
		code := status.Status().Code
		return code == 0 || code >= 500
	}
	return true
}

// Run refreshes the pool every RefreshInterval until ctx is done. client
// is one of the node's own clients (any node identity may read
// default/kubernetes); it dials through the pool.
func (p *ServerPool) Run(ctx context.Context, client kubernetes.Interface) error {
	t := time.NewTicker(p.cfg.RefreshInterval)
	defer t.Stop()
	for {
		if err := p.Refresh(ctx, client); err != nil && ctx.Err() == nil {
			p.cfg.Logger.Warn("API server list refresh failed", "err", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// ServersFromEndpoints lists the host:port of every address of ep on its
// port named https (or its only port), as the API servers publish
// themselves in default/kubernetes.
func ServersFromEndpoints(ep *corev1.Endpoints) []string {
	var out []string
	for _, s := range ep.Subsets {
		var port int32
		for _, p := range s.Ports {
			if p.Name == "https" || len(s.Ports) == 1 {
				port = p.Port
			}
		}
		if port == 0 {
			continue
		}
		for _, a := range s.Addresses {
			out = append(out, net.JoinHostPort(a.IP, strconv.Itoa(int(port))))
		}
	}
	return slices.Compact(slices.Sorted(slices.Values(out)))
}

// validServer tells whether s is a host:port.
func validServer(s string) bool {
	host, port, err := net.SplitHostPort(s)
	if err != nil || host == "" || strings.ContainsAny(host, "/") {
		return false
	}
	n, err := strconv.Atoi(port)
	return err == nil && n > 0 && n < 1<<16
}

// serversFile is the content of ServerPoolConfig.File.
type serversFile struct {
	Servers []string `json:"servers"`
}

// readServers reads the servers file; a missing one lists none.
func readServers(file string) ([]string, error) {
	data, err := os.ReadFile(file)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("server list: %w", err)
	}
	var f serversFile
	if err := json.Unmarshal(data, &f); err != nil {
		return nil, fmt.Errorf("server list %s: %w", file, err)
	}
	var out []string
	for _, s := range f.Servers {
		if validServer(s) {
			out = append(out, s)
		}
	}
	return slices.Compact(slices.Sorted(slices.Values(out))), nil
}

// writeServers replaces the servers file at once, so that a crash leaves
// the old list or the new, never half of one.
func writeServers(file string, servers []string) error {
	data, err := json.Marshal(serversFile{Servers: servers})
	if err != nil {
		return err
	}
	if err := pki.WriteFileAtomic(file, append(data, '\n'), 0o600); err != nil {
		return fmt.Errorf("server list: %w", err)
	}
	return nil
}

// poolConn is a connection the pool dialled; closing it forgets it.
type poolConn struct {
	net.Conn
	addr string
	pool *ServerPool
	once sync.Once
}

func (c *poolConn) Close() error {
	c.once.Do(func() {
		c.pool.mu.Lock()
		delete(c.pool.conns[c.addr], c)
		c.pool.mu.Unlock()
	})
	return c.Conn.Close()
}
