package etcd

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"go.etcd.io/etcd/client/pkg/v3/transport"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/server/v3/embed"
	"go.etcd.io/etcd/server/v3/etcdserver/api/v3client"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// Cluster states accepted in Config.ClusterState.
const (
	// ClusterStateNew bootstraps a new cluster from InitialCluster.
	ClusterStateNew = embed.ClusterStateFlagNew
	// ClusterStateExisting joins a cluster that already added this member.
	ClusterStateExisting = embed.ClusterStateFlagExisting
)

// Defaults for the zero values of Config.
const (
	DefaultName         = "skiff"
	DefaultClientURL    = "http://127.0.0.1:2379"
	DefaultPeerURL      = "http://127.0.0.1:2380"
	DefaultClusterToken = "skiff"
	// DefaultSnapshotCount is etcd's own default. Since etcd 3.6 it only
	// paces snapshots to disk (and so how much WAL is kept); it does not
	// bound memory.
	DefaultSnapshotCount = 10000
	// DefaultCatchUpEntries is how many applied raft entries a cluster
	// member keeps in memory for a lagging follower (etcd's default). They
	// are whole writes, so this times the mean object size is a large part
	// of the heap of a busy member.
	DefaultCatchUpEntries = 5000
	// SingleMemberCatchUpEntries is the default for a member alone: it has
	// no follower to serve, and a member that joins later is sent a
	// snapshot anyway.
	SingleMemberCatchUpEntries = 100
)

// Config describes one etcd member. Zero values take the defaults above; a
// port of 0 in ClientURL or PeerURL asks for a free port on that host.
type Config struct {
	// DataDir holds the member's write-ahead log and database. Required.
	DataDir string
	// Name names the member; it must be unique in the cluster.
	Name string
	// ClientURL is where the member serves clients over gRPC.
	ClientURL string
	// PeerURL is where the member talks raft with the other members.
	PeerURL string
	// AdvertiseClientURL and AdvertisePeerURL are the URLs other hosts use
	// to reach this member; they default to ClientURL and PeerURL (with a
	// free port resolved). Set them when listening on a wildcard address.
	AdvertiseClientURL string
	AdvertisePeerURL   string
	// InitialCluster lists the founding members as "name=peerURL,...". Empty
	// means this member alone. It is read only when DataDir is empty; a
	// restarted member takes its membership from its log.
	InitialCluster string
	// ClusterState is ClusterStateNew (the default) to bootstrap, or
	// ClusterStateExisting for a member added to a running cluster.
	ClusterState string
	// ClusterToken keeps members of different clusters from talking to each
	// other by mistake.
	ClusterToken string
	// TickMs and ElectionMs are the raft heartbeat and election timeout.
	// Zero picks 25/125 for a single member, and etcd's 100/1000 for a
	// cluster, where a short timeout on a busy host causes needless
	// elections. A single member has nobody to wait for: started, it
	// campaigns within one to five ticks (etcd fast-forwards all but the
	// randomised part of the timeout), so its ticks set the server's
	// startup time; but they also wake the idle process 1000/TickMs
	// times a second, for about 30µs of cpu each.
	TickMs     uint
	ElectionMs uint
	// SnapshotCount is the number of writes between snapshots to disk.
	SnapshotCount uint64
	// CatchUpEntries is the number of raft entries kept in memory for a
	// slow follower. Zero picks SingleMemberCatchUpEntries for a single
	// member and DefaultCatchUpEntries for a cluster.
	CatchUpEntries uint64
	// QuotaBackendBytes caps the database size; zero keeps etcd's 2 GiB.
	QuotaBackendBytes int64
	// ForceNewCluster makes the member forget the other members it had
	// and form a cluster of its own, keeping its data (after a quorum is
	// lost for good).
	ForceNewCluster bool
	// TLS, when set, makes the member serve clients and peers over mutual
	// TLS only: ClientURL and PeerURL must then be https URLs.
	TLS *TLS
	// Logger receives etcd's warnings and errors; nil discards them.
	Logger *slog.Logger
}

// TLS are the files of a member that serves clients and peers over mutual
// TLS: every client and peer must present a certificate signed by CAFile.
type TLS struct {
	// CAFile is the CA that clients' and peers' certificates chain to.
	CAFile string
	// CertFile and KeyFile are served to clients.
	CertFile, KeyFile string
	// PeerCertFile and PeerKeyFile are served to peers and presented to
	// them as a client; the certificate needs both usages.
	PeerCertFile, PeerKeyFile string
}

func (c *Config) setDefaults() {
	if c.Name == "" {
		c.Name = DefaultName
	}
	if c.ClientURL == "" {
		c.ClientURL = DefaultClientURL
		if c.TLS != nil {
			c.ClientURL = "https://" + strings.TrimPrefix(DefaultClientURL, "http://")
		}
	}
	if c.PeerURL == "" {
		c.PeerURL = DefaultPeerURL
		if c.TLS != nil {
			c.PeerURL = "https://" + strings.TrimPrefix(DefaultPeerURL, "http://")
		}
	}
	if c.ClusterState == "" {
		c.ClusterState = ClusterStateNew
	}
	if c.ClusterToken == "" {
		c.ClusterToken = DefaultClusterToken
	}
	if c.TickMs == 0 && c.ElectionMs == 0 {
		if c.singleMember() {
			c.TickMs, c.ElectionMs = 25, 125
		} else {
			c.TickMs, c.ElectionMs = 100, 1000
		}
	}
	if c.SnapshotCount == 0 {
		c.SnapshotCount = DefaultSnapshotCount
	}
	if c.CatchUpEntries == 0 {
		if c.singleMember() {
			c.CatchUpEntries = SingleMemberCatchUpEntries
		} else {
			c.CatchUpEntries = DefaultCatchUpEntries
		}
	}
}

func (c *Config) singleMember() bool {
	return c.InitialCluster == "" || !strings.Contains(c.InitialCluster, ",")
}

func (c *Config) validate() error {
	if c.DataDir == "" {
		return errors.New("data dir is required")
	}
	if c.ClusterState != ClusterStateNew && c.ClusterState != ClusterStateExisting {
		return fmt.Errorf("cluster state %q: want %q or %q", c.ClusterState, ClusterStateNew, ClusterStateExisting)
	}
	if c.TLS != nil {
		for _, u := range []struct{ what, url string }{{"client", c.ClientURL}, {"peer", c.PeerURL}} {
			if !strings.HasPrefix(u.url, "https://") {
				return fmt.Errorf("%s URL %q: this member serves over TLS only, so it must be an https URL", u.what, u.url)
			}
		}
	}
	if c.TickMs == 0 || c.ElectionMs < 5*c.TickMs {
		return fmt.Errorf("election timeout %dms must be at least 5 heartbeats of %dms", c.ElectionMs, c.TickMs)
	}
	return nil
}

// Server is a running etcd member embedded in this process.
type Server struct {
	etcd      *embed.Etcd
	client    *clientv3.Client
	quiet     *atomic.Bool
	clientURL string
	peerURL   string
	closeOnce sync.Once
}

// Start starts a member and returns once it has joined a cluster with a
// leader and serves requests, or ctx is done. A member of a multi-member
// cluster is ready only when a quorum is up, so start the founding members
// concurrently.
func Start(ctx context.Context, cfg Config) (*Server, error) {
	cfg.setDefaults()
	if err := cfg.validate(); err != nil {
		return nil, fmt.Errorf("start etcd: %w", err)
	}
	// A free port is found by binding and releasing it, so another process
	// may take it before etcd binds; try again with fresh ports then.
	const attempts = 3
	for i := 1; ; i++ {
		s, err := start(ctx, cfg)
		if err == nil {
			return s, nil
		}
		if i == attempts || !errors.Is(err, syscall.EADDRINUSE) || !(hasPortZero(cfg.ClientURL) || hasPortZero(cfg.PeerURL)) {
			return nil, fmt.Errorf("start etcd: %w", err)
		}
	}
}

func start(ctx context.Context, cfg Config) (*Server, error) {
	clientURL, err := ResolvePort(cfg.ClientURL)
	if err != nil {
		return nil, fmt.Errorf("client url: %w", err)
	}
	peerURL, err := ResolvePort(cfg.PeerURL)
	if err != nil {
		return nil, fmt.Errorf("peer url: %w", err)
	}
	advClient := or(cfg.AdvertiseClientURL, clientURL.String())
	advPeer := or(cfg.AdvertisePeerURL, peerURL.String())
	ec := embed.NewConfig()
	ec.Name = cfg.Name
	ec.Dir = cfg.DataDir
	ec.ListenClientUrls = []url.URL{*clientURL}
	ec.ListenPeerUrls = []url.URL{*peerURL}
	if ec.AdvertiseClientUrls, err = parseURLs(advClient); err != nil {
		return nil, fmt.Errorf("advertise client url: %w", err)
	}
	if ec.AdvertisePeerUrls, err = parseURLs(advPeer); err != nil {
		return nil, fmt.Errorf("advertise peer url: %w", err)
	}
	if t := cfg.TLS; t != nil {
		ec.ClientTLSInfo = transport.TLSInfo{CertFile: t.CertFile, KeyFile: t.KeyFile, TrustedCAFile: t.CAFile, ClientCertAuth: true}
		ec.PeerTLSInfo = transport.TLSInfo{CertFile: t.PeerCertFile, KeyFile: t.PeerKeyFile, TrustedCAFile: t.CAFile, ClientCertAuth: true}
	}
	ec.InitialCluster = or(cfg.InitialCluster, cfg.Name+"="+advPeer)
	ec.ClusterState = cfg.ClusterState
	ec.InitialClusterToken = cfg.ClusterToken
	ec.TickMs = cfg.TickMs
	ec.ElectionMs = cfg.ElectionMs
	ec.SnapshotCount = cfg.SnapshotCount
	ec.SnapshotCatchUpEntries = cfg.CatchUpEntries
	ec.QuotaBackendBytes = cfg.QuotaBackendBytes
	ec.ForceNewCluster = cfg.ForceNewCluster
	// skiff's storage layer compacts on its own schedule (see
	// storage/etcd.Store.Run), coordinated between API servers.
	ec.AutoCompactionMode = embed.CompactorModePeriodic
	ec.AutoCompactionRetention = "0"
	// Nothing in skiff speaks etcd's JSON gateway; it costs memory.
	ec.EnableGRPCGateway = false
	ec.Metrics = "basic"

	quiet := new(atomic.Bool)
	lg := zap.NewNop()
	if cfg.Logger != nil {
		lg = zap.New(&slogCore{h: cfg.Logger.Handler(), min: zapcore.WarnLevel, quiet: quiet})
	}
	ec.ZapLoggerBuilder = embed.NewZapLoggerBuilder(lg)

	e, err := embed.StartEtcd(ec)
	if err != nil {
		return nil, err
	}
	s := &Server{etcd: e, quiet: quiet, clientURL: clientURL.String(), peerURL: peerURL.String()}
	select {
	case <-e.Server.ReadyNotify():
	case err := <-e.Err():
		s.abort()
		return nil, fmt.Errorf("wait for ready: %w", err)
	case <-e.Server.StopNotify():
		s.abort()
		return nil, errors.New("wait for ready: member stopped")
	case <-ctx.Done():
		s.abort()
		return nil, fmt.Errorf("wait for ready: %w", ctx.Err())
	}
	s.client = v3client.New(e.Server)
	return s, nil
}

// Defragment rewrites the member's database without its free pages. The
// member serves nothing meanwhile. (The in-process client's Defragment
// cannot be used: its maintenance server has no health notifier.)
func (s *Server) Defragment() error { return s.etcd.Server.Defragment() }

// Client returns a client that calls the member in-process, with no network
// hop. It stays valid until Close; callers must not close it.
func (s *Server) Client() *clientv3.Client { return s.client }

// ClientURL returns the URL the member serves clients on, with the port
// actually bound.
func (s *Server) ClientURL() string { return s.clientURL }

// PeerURL returns the URL the member serves peers on, with the port actually
// bound.
func (s *Server) PeerURL() string { return s.peerURL }

// IsLeader reports whether this member currently leads the cluster.
func (s *Server) IsLeader() bool {
	return s.etcd.Server.Leader() == s.etcd.Server.MemberID()
}

// MemberID is the member's ID in its cluster.
func (s *Server) MemberID() uint64 { return uint64(s.etcd.Server.MemberID()) }

// IsLearner reports whether the member is a learner: it replicates the
// log but neither votes nor serves clients until it is promoted.
func (s *Server) IsLearner() bool { return s.etcd.Server.IsLearner() }

// WaitPromoted returns once the member votes (a member that never was a
// learner at once), or with ctx's error.
func (s *Server) WaitPromoted(ctx context.Context) error {
	t := time.NewTicker(200 * time.Millisecond)
	defer t.Stop()
	for s.IsLearner() {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-s.etcd.Server.StopNotify():
			return errors.New("etcd member stopped while a learner")
		case <-t.C:
		}
	}
	return nil
}

// Err reports a fatal error of the running member; it is closed after Close.
func (s *Server) Err() <-chan error { return s.etcd.Err() }

// Close stops the member and returns after all of its goroutines have
// exited. Calling it again does nothing.
func (s *Server) Close() {
	s.closeOnce.Do(func() {
		s.quiet.Store(true)
		if s.client != nil {
			s.client.Close()
		}
		// Close waits for the raft loop, the listeners and their handlers.
		s.etcd.Close()
	})
}

// abort closes a member that never became ready. embed.Etcd.Close alone
// would wait forever for client servers that start only once the member is
// ready; stopping the raft loop first releases them.
func (s *Server) abort() {
	s.quiet.Store(true)
	s.etcd.Server.HardStop()
	s.Close()
}

// ResolvePort parses raw and, if its port is 0, replaces it with a port
// that was free on its host a moment ago.
func ResolvePort(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, err
	}
	if u.Port() != "0" {
		return u, nil
	}
	l, err := net.Listen("tcp", net.JoinHostPort(u.Hostname(), "0"))
	if err != nil {
		return nil, err
	}
	defer l.Close()
	u.Host = l.Addr().String()
	return u, nil
}

func hasPortZero(raw string) bool {
	u, err := url.Parse(raw)
	return err == nil && u.Port() == "0"
}

func parseURLs(raw string) ([]url.URL, error) {
	var out []url.URL
	for s := range strings.SplitSeq(raw, ",") {
		u, err := url.Parse(s)
		if err != nil {
			return nil, err
		}
		out = append(out, *u)
	}
	return out, nil
}

func or(s, def string) string {
	if s != "" {
		return s
	}
	return def
}
