package server

import (
	"cmp"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	clientv3 "go.etcd.io/etcd/client/v3"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/clock"

	"skiff/internal/agent"
	"skiff/internal/apiserver"
	"skiff/internal/apiserver/admission"
	"skiff/internal/apiserver/audit"
	"skiff/internal/apiserver/auth"
	"skiff/internal/apiserver/auth/oidc"
	"skiff/internal/apiserver/encryption"
	"skiff/internal/apiserver/openapi"
	"skiff/internal/apiserver/registry"
	"skiff/internal/apiserver/registry/all"
	"skiff/internal/controller/horizontalpodautoscaler"
	"skiff/internal/dashboard"
	"skiff/internal/etcd"
	"skiff/internal/ingress"
	"skiff/internal/network"
	"skiff/internal/node"
	"skiff/internal/storage"
	etcdstore "skiff/internal/storage/etcd"
	"skiff/internal/version"
)

// Components are what --disable can switch off as a whole: the control
// plane's and this host's node's (see node.Components).
var Components = append([]string{"scheduler", "controllers", "dashboard"}, node.Components...)

// Config is the whole configuration of `skiff server`.
type Config struct {
	// DataDir holds certificates, kubeconfigs and the embedded etcd.
	DataDir string
	// EtcdServers, when set, are the client URLs of an external etcd
	// cluster used instead of the embedded member.
	EtcdServers []string
	// EtcdCAFile, EtcdCertFile and EtcdKeyFile are the CA that the external
	// etcd's serving certificate chains to and the client certificate
	// presented to it, for https EtcdServers.
	EtcdCAFile, EtcdCertFile, EtcdKeyFile string
	// EtcdClientURL and EtcdPeerURL are where the embedded member listens
	// (defaults https://127.0.0.1:2379 and :2380; port 0 picks a free
	// one). It serves both over mutual TLS only, with certificates of its
	// own CA under <data-dir>/tls/etcd.
	EtcdClientURL, EtcdPeerURL string
	// ClusterInit makes the embedded etcd the seed of a cluster of servers:
	// it serves peers at the advertise address (port 2380) so that others
	// can join it (--cluster-init).
	ClusterInit bool
	// JoinServer and JoinToken make this server join the cluster of the
	// server at JoinServer (--server, --token): it copies the cluster's
	// CAs and keys, and its embedded etcd joins the others' as a member.
	JoinServer, JoinToken string
	// BindAddress and HTTPSPort are where the API is served (0.0.0.0:6443;
	// port 0 means 6443, -1 picks a free port).
	BindAddress string
	HTTPSPort   int
	// AdvertiseAddress is the address the kubernetes Service points at;
	// the first non-loopback host address by default.
	AdvertiseAddress net.IP
	// TLSSANs are extra names and addresses for the serving certificate.
	TLSSANs []string
	// ServiceCIDR is the ClusterIP range (10.43.0.0/16).
	ServiceCIDR string
	// ClusterDomain is the cluster's DNS domain (cluster.local).
	ClusterDomain string
	// ClusterDNS is the kube-dns Service's ClusterIP (10.43.0.10).
	ClusterDNS string
	// DNSPort is the port the cluster DNS listens on at the host's
	// address (53); the kube-dns Service forwards to it.
	DNSPort int
	// IngressHTTPPort and IngressHTTPSPort are where this host's ingress
	// controller listens (80, 443).
	IngressHTTPPort, IngressHTTPSPort int
	// EnableAggregatorRouting sends APIService traffic to an endpoint of
	// the Service instead of its ClusterIP (--enable-aggregator-routing).
	EnableAggregatorRouting bool
	// DisableAgent runs no node on this host: no agent, service proxy or
	// cluster DNS (--disable-agent).
	DisableAgent bool
	// NoDefaultStorageClass creates no default StorageClass local-path
	// (--default-storage-class=false); by default the server creates it
	// when it is missing, and never changes an existing one.
	NoDefaultStorageClass bool
	// AdmissionControlConfigFile is an AdmissionConfiguration, as
	// upstream's --admission-control-config-file; skiff takes the
	// PodSecurity plugin's configuration from it.
	AdmissionControlConfigFile string
	// SchedulerConfigFile is a KubeSchedulerConfiguration for the scheduler.
	SchedulerConfigFile string
	// AuditPolicyFile is an audit.k8s.io/v1 Policy and AuditLog where its
	// events go, as upstream's --audit-policy-file and --audit-log-*; the
	// audit log is on only when both AuditPolicyFile and AuditLog.Path are
	// set.
	AuditPolicyFile string
	AuditLog        audit.LogConfig
	// MaxRequestsInflight and MaxMutatingRequestsInflight, as upstream's
	// flags, add up to the seats API Priority and Fairness shares among
	// the priority levels (zero: 400 and 200).
	MaxRequestsInflight, MaxMutatingRequestsInflight int
	// DisablePriorityAndFairness puts upstream's older in-flight limits
	// in API Priority and Fairness' place: MaxRequestsInflight reads and
	// MaxMutatingRequestsInflight writes at once, refused beyond
	// (--enable-priority-and-fairness=false).
	DisablePriorityAndFairness bool
	// RequestTimeout bounds API requests but watches and other
	// long-running ones, as upstream's --request-timeout (zero: 60s).
	RequestTimeout time.Duration
	// IdleTimeout closes idle keep-alive connections to the API (zero:
	// 90s); tests shorten it.
	IdleTimeout time.Duration
	// MaxWatchesPerUser bounds one user's concurrent watches (zero: 1000,
	// negative: none).
	MaxWatchesPerUser int
	// MetricsResolution is how often the API server reads every Ready
	// node's stats for metrics.k8s.io (kubectl top), as metrics-server's
	// --metric-resolution (zero: 15s); tests shorten it.
	MetricsResolution time.Duration
	// HPA tunes the horizontal pod autoscaler (zero values: upstream's
	// defaults), as kube-controller-manager's
	// --horizontal-pod-autoscaler-* flags do.
	HPA horizontalpodautoscaler.Config
	// SimulateAgent runs this host's agent with the simulated runtime: its
	// pods are reported running but no container runs.
	SimulateAgent bool
	// ContainerRuntimeEndpoint, when set, is an existing CRI socket the
	// agent uses instead of starting containerd itself.
	ContainerRuntimeEndpoint string
	// Disable lists built-in components not to run (see Components).
	Disable []string
	// NodeName is this host's node name (default: its hostname).
	NodeName string
	// EtcdSnapshotDir holds the embedded etcd's snapshots (default
	// <data-dir>/db/snapshots).
	EtcdSnapshotDir string
	// EtcdSnapshotSchedule is the cron schedule of automatic snapshots
	// (default DefaultSnapshotSchedule), of which the newest
	// EtcdSnapshotRetention are kept (default 5);
	// EtcdDisableSnapshots turns them off.
	EtcdSnapshotSchedule  string
	EtcdSnapshotRetention int
	EtcdDisableSnapshots  bool
	// EtcdQuotaBackendBytes caps the embedded etcd's database (zero:
	// etcd's 2 GiB); past it etcd raises NOSPACE, which the server clears.
	EtcdQuotaBackendBytes int64
	// EndpointReconcileInterval is how often the server renews its Lease
	// in kube-system and puts the live servers in the kubernetes
	// endpoints (zero: apiserver.EndpointReconcileInterval); tests
	// shorten it.
	EndpointReconcileInterval time.Duration
	// EtcdMaintenanceInterval is how often the embedded etcd's size and
	// alarms are looked at (zero: DefaultEtcdMaintenanceInterval); tests
	// shorten it.
	EtcdMaintenanceInterval time.Duration
	// PodManifestPath is the agent's folder of static pod manifests
	// (default <DataDir>/agent/pod-manifests, as k3s has it).
	PodManifestPath string
	// EncryptionProviderConfig is an EncryptionConfiguration file
	// (apiserver.config.k8s.io/v1), as upstream's
	// --encryption-provider-config: the resources it names are encrypted
	// in etcd. Empty: nothing is encrypted.
	EncryptionProviderConfig string
	// SecretsEncryption encrypts Secrets with an aescbc key generated on
	// first start into <DataDir>/tls/encryption-config.json, as k3s's
	// --secrets-encryption. Exclusive with EncryptionProviderConfig.
	SecretsEncryption bool
	// ServiceAccountIssuer is the iss claim of service account tokens and
	// the issuer of the discovery document (upstream's
	// --service-account-issuer); default
	// https://kubernetes.default.svc.<ClusterDomain>. Set it to a URL
	// where /.well-known/openid-configuration reaches this server for
	// outside OIDC verifiers.
	ServiceAccountIssuer string
	// ServiceAccountKeyFiles are PEM files of extra public keys (or
	// certificates, or private keys) that service account tokens verify
	// with but are never signed with, as upstream's
	// --service-account-key-file. The signing key is
	// <DataDir>/tls/sa.key; the keys it replaced are in
	// <DataDir>/tls/sa-verify/.
	ServiceAccountKeyFiles []string
	// AuthenticationConfigFile is an AuthenticationConfiguration
	// (apiserver.config.k8s.io/v1) of JWT issuers whose tokens the API
	// server accepts, as upstream's --authentication-config; reloaded
	// when it changes.
	AuthenticationConfigFile string
	// Logger receives the server's logs; nil discards.
	Logger *slog.Logger
	// Clock is the time certificates are issued and renewed by; the real
	// clock when nil.
	Clock clock.Clock
}

func (c *Config) setDefaults() {
	if c.DataDir == "" {
		c.DataDir = "/var/lib/skiff"
	}
	if c.BindAddress == "" {
		c.BindAddress = "0.0.0.0"
	}
	if c.ServiceCIDR == "" {
		c.ServiceCIDR = "10.43.0.0/16"
	}
	if c.ClusterDomain == "" {
		c.ClusterDomain = "cluster.local"
	}
	if c.ClusterDNS == "" {
		c.ClusterDNS = "10.43.0.10"
	}
	if c.DNSPort == 0 {
		c.DNSPort = 53
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Clock == nil {
		c.Clock = clock.RealClock{}
	}
	if c.ServiceAccountIssuer == "" {
		c.ServiceAccountIssuer = "https://kubernetes.default.svc." + c.ClusterDomain
	}
	if c.EtcdSnapshotDir == "" {
		c.EtcdSnapshotDir = SnapshotDir(c.DataDir)
	}
	if c.EtcdSnapshotSchedule == "" {
		c.EtcdSnapshotSchedule = DefaultSnapshotSchedule
	}
	if c.EtcdSnapshotRetention == 0 {
		c.EtcdSnapshotRetention = DefaultSnapshotRetention
	}
}

func (c *Config) validate() error {
	known := knownDisableNames()
	for _, d := range c.Disable {
		if !known[d] {
			return fmt.Errorf("--disable %q: unknown component or controller (components: %s)", d, strings.Join(Components, ", "))
		}
	}
	if c.SecretsEncryption && c.EncryptionProviderConfig != "" {
		return errors.New("--secrets-encryption and --encryption-provider-config exclude each other")
	}
	if c.HTTPSPort < -1 || c.HTTPSPort > 65535 {
		return fmt.Errorf("--https-port %d: out of range", c.HTTPSPort)
	}
	if _, _, err := net.ParseCIDR(c.ServiceCIDR); err != nil {
		return fmt.Errorf("--service-cidr %q: %w", c.ServiceCIDR, err)
	}
	return nil
}

// Server is a running skiff control plane.
type Server struct {
	cfg     Config
	url     string
	adminKC string
	caFile  string
	// auditLog is the audit log, when on; closed after the API server.
	auditLog *audit.Log
	// certs are the leaf certificates the renewal loop keeps current.
	certs *serverCerts
	// proxy is the front-proxy CA and client certificate (aggregation).
	proxy   *frontProxy
	port    int
	ln      net.Listener
	serving *tls.Config
	etcd    *etcd.Server
	etcdCl  *clientv3.Client
	// members manages the embedded etcd's cluster; nil with an external
	// etcd.
	members *etcdMembers
	// snapshots are the embedded etcd's; nil with an external one.
	snapshots *snapshots
	// etcdUpkeep checks etcd's health, and keeps the embedded one
	// writable.
	etcdUpkeep *etcdUpkeep
	store      storage.Store
	// etcdStore is the store as written to etcd: store itself, or what
	// store encrypts into.
	etcdStore storage.Store
	// encryption is the at-rest encryption configuration, nil when off.
	encryption *encryption.Config
	api        *apiserver.Server
	// jwtAuth authenticates tokens of --authentication-config's issuers.
	jwtAuth *oidc.Authenticator
	// nodeGraph relates nodes to what their pods use, for the Node
	// authorizer.
	nodeGraph *auth.NodeGraph
	// cancel stops the API server and the store; wg waits for them.
	cancel context.CancelFunc
	wg     sync.WaitGroup
	// stopComponents stops the components and the node; compWG waits for
	// them.
	stopComponents context.CancelFunc
	compWG         sync.WaitGroup
	errOnce        sync.Once
	err            error
	// StartedIn is how long Start took.
	StartedIn time.Duration
}

// URL is the API server's HTTPS URL.
func (s *Server) URL() string { return s.url }

// AdminKubeconfig is the path of the admin kubeconfig.
func (s *Server) AdminKubeconfig() string { return s.adminKC }

// EtcdClientURL is where the embedded etcd member serves clients (over
// mutual TLS), with the port actually bound; empty with --etcd-servers.
func (s *Server) EtcdClientURL() string {
	if s.etcd == nil {
		return ""
	}
	return s.etcd.ClientURL()
}

// Store returns the store the API server keeps objects in.
func (s *Server) Store() storage.Store { return s.store }

// EtcdStore returns the store as written to etcd: values are encrypted
// there when encryption at rest is on (otherwise it is Store).
func (s *Server) EtcdStore() storage.Store { return s.etcdStore }

// API returns the in-process API server.
func (s *Server) API() *apiserver.Server { return s.api }

// Start brings the control plane up, and this host's node unless
// DisableAgent, and returns once the API server is ready. It runs the
// steps in order; if one fails, Close stops what the earlier ones started.
// ctx bounds the start only: Close (or Wait) stops the server.
func Start(ctx context.Context, cfg Config) (*Server, error) {
	begin := time.Now()
	cfg.setDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if cfg.AdvertiseAddress == nil {
		cfg.AdvertiseAddress = network.FirstHostIP()
	}
	s := &Server{cfg: cfg, certs: newServerCerts(cfg.Clock)}
	var err error
	if cfg.JoinServer != "" {
		// Before anything else: the CAs and keys (and the encryption
		// config) must be the cluster's, not new ones.
		if err := fetchServerBootstrap(ctx, cfg); err != nil {
			return nil, err
		}
	}
	if s.encryption, err = loadEncryption(cfg); err != nil {
		return nil, err
	}
	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	compCtx, stopComponents := context.WithCancel(runCtx)
	s.cancel, s.stopComponents = cancel, stopComponents
	steps := []struct {
		name string
		run  func(ctx context.Context) error
	}{
		{"listen", s.listen},
		{"certificates and store", s.setUpPKIAndStore},
		{"api server", s.newAPIServer},
		{"certificate renewal", func(context.Context) error { return s.startRenewal(runCtx) }},
		{"serve", func(ctx context.Context) error { return s.serve(ctx, runCtx) }},
		{"node authorizer", func(ctx context.Context) error { return s.startNodeGraph(ctx, runCtx) }},
		{"bootstrap", s.bootstrap},
		{"kubernetes endpoints", func(context.Context) error { return s.startEndpointReconciler(runCtx) }},
		{"etcd upkeep", func(context.Context) error { return s.startEtcdUpkeep(runCtx) }},
		{"kms status", func(context.Context) error { return s.pollKMS(runCtx) }},
		{"components", func(context.Context) error { return s.startComponents(compCtx) }},
		{"node", func(context.Context) error { return s.startNode(compCtx) }},
	}
	for _, step := range steps {
		if err := step.run(ctx); err != nil {
			s.Close()
			return nil, err
		}
		cfg.Logger.Debug("start step done", "step", step.name, "after", time.Since(begin))
	}
	s.StartedIn = time.Since(begin)
	cfg.Logger.Info("skiff server ready", "url", s.url, "kubeconfig", s.adminKC, "startup", s.StartedIn)
	return s, nil
}

// listen makes the data dir and listens on the API port first: a port of
// 0 must be known for the kubeconfig.
func (s *Server) listen(context.Context) error {
	if err := os.MkdirAll(s.cfg.DataDir, 0o700); err != nil {
		return fmt.Errorf("data dir: %w", err)
	}
	ln, err := net.Listen("tcp", net.JoinHostPort(s.cfg.BindAddress, strconv.Itoa(portOr(s.cfg.HTTPSPort, 6443))))
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	s.ln = ln
	s.port = ln.Addr().(*net.TCPAddr).Port
	s.url = "https://" + net.JoinHostPort("127.0.0.1", strconv.Itoa(s.port))
	return nil
}

// setUpPKIAndStore makes the certificates and the admin kubeconfig while
// etcd starts (or the external one is dialled): neither needs the other.
func (s *Server) setUpPKIAndStore(ctx context.Context) error {
	_, serviceCIDR, _ := net.ParseCIDR(s.cfg.ServiceCIDR)
	var pkiErr error
	var wg sync.WaitGroup
	wg.Go(func() { s.serving, s.adminKC, s.caFile, pkiErr = setUpPKI(s.certs, s.cfg, serviceCIDR, s.port) })
	err := s.startStore(ctx)
	wg.Wait()
	if err != nil {
		return fmt.Errorf("etcd: %w", err)
	}
	s.etcdStore = s.store
	if s.encryption != nil {
		s.store = encryption.NewStore(s.store, s.encryption)
	}
	return pkiErr
}

func (s *Server) startStore(ctx context.Context) error {
	if len(s.cfg.EtcdServers) > 0 {
		tlsConfig, err := etcdClientTLS(s.cfg.EtcdCAFile, s.cfg.EtcdCertFile, s.cfg.EtcdKeyFile)
		if err != nil {
			return err
		}
		cl, err := etcdstore.Dial(s.cfg.EtcdServers, tlsConfig)
		if err != nil {
			return err
		}
		s.etcdCl = cl
		s.store = etcdstore.New(cl, etcdstore.Config{})
		s.etcdUpkeep = newEtcdUpkeep(cl, s.cfg.EtcdServers[0], nil, 0, s.cfg.Logger)
		return nil
	}
	ec, err := embeddedEtcd(s.cfg)
	if err != nil {
		return err
	}
	if ec.TLS, err = setUpEtcdPKI(s.certs, s.cfg.DataDir, ec.ClientURL, ec.PeerURL); err != nil {
		return err
	}
	if s.cfg.JoinServer != "" && !memberInitialized(ec) {
		if ec, err = joinEtcd(ctx, s.cfg, ec); err != nil {
			return err
		}
	}
	e, err := etcd.Start(ctx, ec)
	if err != nil {
		return err
	}
	s.etcd = e
	// A learner serves no client: the API server waits for the leader to
	// promote it, which it does once the member has caught up.
	if err := e.WaitPromoted(ctx); err != nil {
		return fmt.Errorf("wait for the etcd member to be promoted: %w", err)
	}
	s.members = &etcdMembers{member: e, name: ec.Name, logger: s.cfg.Logger}
	if s.cfg.clustered() {
		if err := s.members.advertisePeerURL(ctx, e.PeerURL()); err != nil {
			return fmt.Errorf("etcd peer URL: %w", err)
		}
	}
	s.etcdUpkeep = newEtcdUpkeep(e.Client(), e.ClientURL(), e.Defragment, s.cfg.EtcdQuotaBackendBytes, s.cfg.Logger)
	// A database left mostly free pages, or at its quota, is put right
	// before the API server serves from it.
	if err := s.etcdUpkeep.maintain(ctx, "start"); err != nil {
		s.cfg.Logger.Warn("etcd upkeep at start failed", "err", err)
	}
	s.store = etcdstore.New(e.Client(), etcdstore.Config{})
	s.snapshots = &snapshots{
		dir:  s.cfg.EtcdSnapshotDir,
		node: cmp.Or(s.cfg.NodeName, node.HostName()),
		save: func(ctx context.Context, path string) (etcd.SnapshotStatus, error) {
			return etcd.SaveSnapshot(ctx, e.Client(), path)
		},
		now: time.Now,
	}
	return nil
}

// startEndpointReconciler keeps this server in the kubernetes Service's
// endpoints, beside the other servers sharing the store, until runCtx is
// done.
func (s *Server) startEndpointReconciler(runCtx context.Context) error {
	if s.cfg.AdvertiseAddress == nil {
		return nil
	}
	s.wg.Go(func() {
		s.api.RunEndpointReconciler(runCtx, s.cfg.AdvertiseAddress, s.port, s.cfg.EndpointReconcileInterval)
	})
	return nil
}

// healthChecks are the API server's checks besides its own: etcd, and
// the KMS plugins when encryption at rest uses any (as upstream's
// kms-providers check).
func (s *Server) healthChecks() []apiserver.HealthCheck {
	checks := []apiserver.HealthCheck{{Name: "etcd", Check: s.etcdUpkeep.Check}}
	if st, ok := s.store.(*encryption.Store); ok && st.Config().HasKMS() {
		checks = append(checks, apiserver.HealthCheck{Name: "kms-providers", Check: func(ctx context.Context) error {
			return st.Config().CheckKMS(ctx)
		}})
	}
	return checks
}

// pollKMS asks the KMS plugins for their status every minute until ctx is
// done, so that a plugin's new key ID is taken up (and a failing plugin
// logged) without waiting for a write or a probe.
func (s *Server) pollKMS(ctx context.Context) error {
	st, ok := s.store.(*encryption.Store)
	if !ok || !st.Config().HasKMS() {
		return nil
	}
	s.wg.Go(func() {
		t := time.NewTicker(time.Minute)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			if err := st.Config().CheckKMS(ctx); err != nil && ctx.Err() == nil {
				s.cfg.Logger.Warn("KMS plugin status failed", "err", err)
			}
		}
	})
	return nil
}

// startEtcdUpkeep starts the embedded etcd's upkeep and scheduled
// snapshots.
func (s *Server) startEtcdUpkeep(ctx context.Context) error {
	if s.etcd == nil {
		return nil
	}
	rc, err := s.clientConfig("system:apiserver", auth.GroupMasters)
	if err != nil {
		return err
	}
	client, err := kubernetes.NewForConfig(rc)
	if err != nil {
		return err
	}
	s.etcdUpkeep.event = nodeEventer(client, s.snapshots.node, s.cfg.Logger)
	s.wg.Go(func() { s.etcdUpkeep.Run(ctx, cmp.Or(s.cfg.EtcdMaintenanceInterval, DefaultEtcdMaintenanceInterval)) })
	s.wg.Go(func() { s.members.promoteLearners(ctx) })
	if s.cfg.clustered() {
		s.wg.Go(func() { s.members.removeMembersOfDeletedNodes(ctx, client) })
	}
	if s.cfg.EtcdDisableSnapshots {
		return nil
	}
	return s.snapshots.Schedule(ctx, s.cfg.EtcdSnapshotSchedule, s.cfg.EtcdSnapshotRetention, s.cfg.Logger.Info)
}

// newAPIServer builds the API server: scheme, OpenAPI, metrics,
// authentication (client certificates, service account tokens),
// authorization (RBAC) and the join protocol.
func (s *Server) newAPIServer(context.Context) error {
	cfg := s.cfg
	_, serviceCIDR, _ := net.ParseCIDR(cfg.ServiceCIDR)
	scheme, err := apiserver.NewScheme()
	if err != nil {
		return err
	}
	resources := all.Resources()
	ptrs := make([]*registry.Resource, len(resources))
	for i := range resources {
		ptrs[i] = &resources[i]
	}
	spec, err := openapi.New(openapi.Config{Scheme: scheme, Resources: ptrs, Version: version.Kubernetes})
	if err != nil {
		return err
	}
	openapiHandler := spec.Handler()
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if s.etcd != nil {
		reg.MustRegister(s.etcdUpkeep.Collectors()...)
	}
	saKeys, err := newSAKeys(cfg, cfg.ServiceAccountIssuer)
	if err != nil {
		return err
	}
	tokens := saKeys.tokens
	authenticators := auth.Union{auth.X509{}, &auth.BootstrapTokens{Secret: func(name string) (*corev1.Secret, bool) {
		return (&apiJoinCluster{s: s}).Secret(name)
	}}, &auth.TokenAuthenticator{Tokens: tokens}}
	if cfg.AuthenticationConfigFile != "" {
		if s.jwtAuth, err = oidc.New(oidc.Config{
			Path:              cfg.AuthenticationConfigFile,
			DisallowedIssuers: []string{cfg.ServiceAccountIssuer},
			Logger:            cfg.Logger,
		}); err != nil {
			return err
		}
		authenticators = append(authenticators, s.jwtAuth)
	}
	join, err := setUpJoin(cfg, &apiJoinCluster{s: s}, s.members)
	if err != nil {
		return err
	}
	var admissionCfg admission.FileConfig
	if cfg.AdmissionControlConfigFile != "" {
		if admissionCfg, err = admission.ReadConfigFile(cfg.AdmissionControlConfigFile); err != nil {
			return err
		}
		if len(admissionCfg.Ignored) > 0 {
			cfg.Logger.Info("admission configuration: plugins skiff takes no configuration for", "plugins", admissionCfg.Ignored)
		}
	}
	var auditPolicy *audit.Policy
	var auditLog apiserver.AuditLog
	if cfg.AuditPolicyFile != "" && cfg.AuditLog.Path != "" {
		if auditPolicy, err = audit.ReadPolicyFile(cfg.AuditPolicyFile); err != nil {
			return err
		}
		if s.auditLog, err = audit.NewLog(cfg.AuditLog); err != nil {
			return err
		}
		auditLog = s.auditLog
	}
	// The RBAC authorizer reads the API server's own cache, which exists
	// only once the server does.
	rbac := &auth.RBAC{}
	s.nodeGraph = auth.NewNodeGraph()
	authorizer := auth.Chain{auth.Masters{}, auth.NewNode(s.nodeGraph), rbac}
	kubeletTLS, err := kubeletClientTLS(s.certs, cfg.DataDir)
	if err != nil {
		return err
	}
	if s.proxy, err = setUpFrontProxy(s.certs, cfg.DataDir); err != nil {
		return err
	}
	extra := map[string]http.Handler{
		"/metrics":                  promhttp.HandlerFor(reg, promhttp.HandlerOpts{}),
		"/openapi/v2":               openapiHandler,
		"/openapi/v3":               openapiHandler,
		"/openapi/v3/":              openapiHandler,
		"/debug/pprof/":             http.HandlerFunc(pprof.Index),
		"/debug/pprof/profile":      http.HandlerFunc(pprof.Profile),
		"/debug/pprof/trace":        http.HandlerFunc(pprof.Trace),
		ServiceAccountKeyRotatePath: saKeys,
		EtcdSnapshotsPath:           http.HandlerFunc(snapshotsUnavailable),
		EtcdSnapshotsPrunePath:      http.HandlerFunc(snapshotsUnavailable),
	}
	if s.snapshots != nil {
		extra[EtcdSnapshotsPath], extra[EtcdSnapshotsPrunePath] = s.snapshots, s.snapshots
	}
	if s.members != nil {
		extra[EtcdMembersPath] = s.members
	}
	if st, ok := s.store.(*encryption.Store); ok {
		extra[EncryptionStatusPath] = encryptionStatusHandler(st)
		if cfg.SecretsEncryption {
			extra[EncryptionRotatePath] = &keyRotator{path: EncryptionConfigPath(cfg.DataDir), store: st, now: time.Now}
		}
	}
	if !slices.Contains(cfg.Disable, "dashboard") {
		// The dashboard forwards to the API server, which exists only
		// below; it is only reached once the server serves.
		dash, err := dashboard.New(dashboard.Config{
			API: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { s.api.ServeHTTP(w, r) }),
			Authenticate: func(r *http.Request) (string, bool, error) {
				u, ok, err := authenticators.Authenticate(r)
				if err != nil || !ok {
					return "", ok, err
				}
				return u.Name, true, nil
			},
			Logger: cfg.Logger,
		})
		if err != nil {
			return err
		}
		// Before authentication: it takes the token from its cookie.
		join[dashboard.Root], join[dashboard.Path] = dash, dash
	}
	api, err := apiserver.New(apiserver.Config{
		HealthChecks:      s.healthChecks(),
		ProxyClientCert:   s.proxy.cert.GetClientCertificate,
		AggregatorRouting: cfg.EnableAggregatorRouting,
		KubeletTLS:        kubeletTLS,
		Store:             s.store,
		Scheme:            scheme,
		Resources:         resources,
		TypeConverter:     spec.TypeConverter,
		OpenAPI:           spec,
		Authenticator:     authenticators,
		Tokens:            tokens,
		Authorizer:        authorizer,
		Escalation:        &auth.Escalation{RBAC: rbac, Authorizer: authorizer}, // bind and escalate are asked of the whole chain
		ServiceCIDR:       serviceCIDR,
		Metrics:           reg,
		PodSecurity:       admissionCfg.PodSecurity,
		AuditPolicy:       auditPolicy,
		AuditLog:          auditLog,
		// Nodes join with the token in <data-dir>/node-token; the
		// dashboard hands what it serves back to the API as its user.
		SelfAuthenticated: join,
		Extra:             extra,
		ServerConcurrency: serverConcurrency(cfg),
		MaxInflight:       maxInflight(cfg),
		RequestTimeout:    cfg.RequestTimeout,
		IdleTimeout:       cfg.IdleTimeout,
		MaxWatchesPerUser: cfg.MaxWatchesPerUser,
		MetricsResolution: cfg.MetricsResolution,
		Logger:            cfg.Logger,
	})
	if err != nil {
		return err
	}
	s.api = api
	rbac.Source = rbacSource{api}
	tokens.Live = func(ctx context.Context, ns, sa string, saUID types.UID, pod *auth.BoundObject) error {
		// The watch cache may trail a write just made: an account
		// created and its token used at once. A miss is read again once
		// the cache has caught up with the store.
		live := func(resource, name string, uid types.UID, anyUID bool) bool {
			obj, ok := api.Object("", "v1", resource, ns, name)
			if ok && (anyUID || accessorUID(obj) == uid) {
				return true
			}
			rev, err := s.store.CurrentRevision(ctx)
			if err != nil || !api.Cache().WaitFresh(ctx, rev, time.Second) {
				return false
			}
			obj, ok = api.Object("", "v1", resource, ns, name)
			return ok && (anyUID || accessorUID(obj) == uid)
		}
		if !live("serviceaccounts", sa, saUID, saUID == "") {
			return fmt.Errorf("service account %s/%s has been deleted", ns, sa)
		}
		if pod != nil && !live("pods", pod.Name, pod.UID, false) {
			return fmt.Errorf("pod %s/%s has been deleted", ns, pod.Name)
		}
		return nil
	}
	return nil
}

// serve runs the API server and the store until runCtx is done, and
// serves HTTPS once the watch cache is ready.
func (s *Server) serve(ctx, runCtx context.Context) error {
	s.wg.Go(func() {
		if err := s.api.Run(runCtx); err != nil {
			s.fail(err)
		}
	})
	if s.jwtAuth != nil {
		s.wg.Go(func() { _ = s.jwtAuth.Run(runCtx) })
	}
	if st, ok := s.etcdStore.(interface{ Run(context.Context) error }); ok {
		s.wg.Go(func() { _ = st.Run(runCtx) })
	}
	select {
	case <-s.api.Cache().Ready():
	case <-ctx.Done():
		return ctx.Err()
	}
	ln := s.ln
	s.ln = nil // Serve owns it now
	s.wg.Go(func() {
		if err := s.api.Serve(runCtx, ln, s.serving); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.fail(fmt.Errorf("serve: %w", err))
		}
	})
	return nil
}

// startNodeGraph fills the Node authorizer's graph from informers over a
// loopback client until runCtx is done, and returns once they have listed:
// a node asking before then would be refused what is its own.
func (s *Server) startNodeGraph(ctx, runCtx context.Context) error {
	// The API server's own loopback identity, as upstream's: the graph is
	// part of the API server, which reads everything anyway.
	rc, err := s.clientConfig("system:apiserver", auth.GroupMasters)
	if err != nil {
		return err
	}
	client, err := kubernetes.NewForConfig(rc)
	if err != nil {
		return fmt.Errorf("node authorizer: %w", err)
	}
	s.wg.Go(func() {
		if err := s.nodeGraph.Run(runCtx, client); err != nil {
			s.fail(err)
		}
	})
	select {
	case <-s.nodeGraph.Synced():
		return nil
	case <-ctx.Done():
		return fmt.Errorf("node authorizer: %w", ctx.Err())
	}
}

// bootstrap creates the built-in objects (namespaces, the kubernetes
// Service, priority classes, ...) and the default RBAC roles.
func (s *Server) bootstrap(ctx context.Context) error {
	clientCA, err := os.ReadFile(s.caFile)
	if err != nil {
		return fmt.Errorf("bootstrap: %w", err)
	}
	bc := apiserver.BootstrapConfig{AdvertiseAddress: s.cfg.AdvertiseAddress, Port: s.port, ClientCA: clientCA,
		RequestHeaderCA: s.proxy.caPEM, RequestHeaderAllowedNames: []string{frontProxyClientName},
		DefaultStorageClass: !s.cfg.NoDefaultStorageClass}
	if !slices.Contains(s.cfg.Disable, "ingress") {
		bc.IngressClass = ingress.DefaultClass()
	}
	if err := s.api.Bootstrap(ctx, bc); err != nil {
		return err
	}
	if err := ensureFlowControlDefaults(ctx, s.api); err != nil {
		return err
	}
	return ensureRBACDefaults(ctx, s.api)
}

// startComponents starts every enabled control-plane component in its own
// goroutine, restarted when it fails.
func (s *Server) startComponents(ctx context.Context) error {
	for _, c := range s.components() {
		rc, err := s.clientConfig(c.user)
		if err != nil {
			return err
		}
		s.compWG.Go(func() {
			node.Supervise(ctx, s.cfg.Logger, c.name, func(ctx context.Context) error { return c.run(ctx, rc) })
		})
	}
	return nil
}

// startNode runs this host's node (unless DisableAgent), with credentials
// from the cluster CA and the node components --disable leaves on.
func (s *Server) startNode(ctx context.Context) error {
	if s.cfg.DisableAgent {
		return nil
	}
	var disable []string
	for _, d := range s.cfg.Disable {
		if slices.Contains(node.Components, d) {
			disable = append(disable, d)
		}
	}
	n, err := node.New(node.Config{
		DataDir:                  s.cfg.DataDir,
		NodeName:                 s.cfg.NodeName,
		NodeIP:                   s.cfg.AdvertiseAddress,
		ServiceCIDR:              s.cfg.ServiceCIDR,
		ClusterDomain:            s.cfg.ClusterDomain,
		ClusterDNS:               s.cfg.ClusterDNS,
		DNSPort:                  s.cfg.DNSPort,
		IngressHTTPPort:          s.cfg.IngressHTTPPort,
		IngressHTTPSPort:         s.cfg.IngressHTTPSPort,
		ContainerRuntimeEndpoint: s.cfg.ContainerRuntimeEndpoint,
		SimulateRuntime:          s.cfg.SimulateAgent,
		PodManifestPath:          s.cfg.PodManifestPath,
		Disable:                  disable,
		Credentials:              nodeCredentials{s},
		Logger:                   s.cfg.Logger,
	})
	if err != nil {
		return err
	}
	s.compWG.Go(func() { _ = n.Run(ctx) })
	s.compWG.Go(func() { s.labelControlPlane(ctx, n.Name()) })
	return nil
}

// labelControlPlane marks this host's Node as a control-plane node once
// it has registered. The server does it, not the node: a node may not set
// node-role labels on itself (NodeRestriction), as upstream leaves them to
// the cluster's installer.
func (s *Server) labelControlPlane(ctx context.Context, name string) {
	nodes := corev1.SchemeGroupVersion.WithResource("nodes")
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	for {
		if o, ok := s.api.Object("", "v1", "nodes", "", name); ok {
			err := s.api.Reconcile(ctx, nodes, "", o, func(cur runtime.Object) (runtime.Object, bool) {
				n, ok := cur.(*corev1.Node)
				if !ok {
					return nil, false
				}
				// A clustered server's Node names its etcd member, which
				// leaves the cluster with the Node.
				member := ""
				if s.cfg.clustered() && s.members != nil {
					member = s.members.name
				}
				_, labelled := n.Labels[agent.LabelControlPlane]
				if labelled && (member == "" || n.Annotations[EtcdMemberAnnotation] == member && slices.Contains(n.Finalizers, EtcdMemberFinalizer)) {
					return nil, false
				}
				n = n.DeepCopy()
				if n.Labels == nil {
					n.Labels = map[string]string{}
				}
				n.Labels[agent.LabelControlPlane] = ""
				if member != "" {
					if n.Annotations == nil {
						n.Annotations = map[string]string{}
					}
					n.Annotations[EtcdMemberAnnotation] = member
					if !slices.Contains(n.Finalizers, EtcdMemberFinalizer) {
						n.Finalizers = append(n.Finalizers, EtcdMemberFinalizer)
					}
				}
				return n, false
			})
			if err == nil {
				return
			}
			s.cfg.Logger.Warn("labelling this host's node as control plane", "node", name, "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

func portOr(p, def int) int {
	if p == 0 {
		return def
	}
	if p < 0 {
		return 0
	}
	return p
}

func (s *Server) fail(err error) {
	s.errOnce.Do(func() {
		s.err = err
		s.cfg.Logger.Error("skiff server failed", "err", err)
		if s.cancel != nil {
			s.cancel()
		}
	})
}

// Wait blocks until ctx is done or the server fails, then shuts down.
func (s *Server) Wait(ctx context.Context) error {
	var etcdErr <-chan error
	if s.etcd != nil {
		etcdErr = s.etcd.Err()
	}
	select {
	case <-ctx.Done():
	case err := <-etcdErr:
		if err != nil {
			s.fail(fmt.Errorf("etcd: %w", err))
		}
	}
	s.Close()
	return s.err
}

// Close stops everything and waits for it: the components first, while
// the API server still answers them (they release their Leases), then the
// API server and etcd.
func (s *Server) Close() {
	if s.stopComponents != nil {
		s.stopComponents()
		s.compWG.Wait()
	}
	if s.cancel != nil {
		s.cancel()
	}
	s.wg.Wait()
	if s.ln != nil {
		_ = s.ln.Close()
		s.ln = nil
	}
	if s.auditLog != nil {
		_ = s.auditLog.Close()
		s.auditLog = nil
	}
	if s.encryption != nil {
		// The KMS plugins' connections.
		_ = s.encryption.Close()
		s.encryption = nil
	}
	s.closeEtcd()
}

func (s *Server) closeEtcd() {
	if s.etcd != nil {
		s.etcd.Close()
		s.etcd = nil
	}
	if s.etcdCl != nil {
		_ = s.etcdCl.Close()
		s.etcdCl = nil
	}
}

// accessorUID is the UID of an object with metadata.
func accessorUID(obj runtime.Object) types.UID {
	if m, err := meta.Accessor(obj); err == nil {
		return m.GetUID()
	}
	return ""
}
