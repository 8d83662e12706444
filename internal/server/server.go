package server

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	clientv3 "go.etcd.io/etcd/client/v3"

	"skiff/internal/apiserver"
	"skiff/internal/apiserver/auth"
	"skiff/internal/apiserver/openapi"
	"skiff/internal/apiserver/registry"
	"skiff/internal/apiserver/registry/all"
	"skiff/internal/etcd"
	"skiff/internal/pki"
	"skiff/internal/storage"
	etcdstore "skiff/internal/storage/etcd"
	"skiff/internal/version"
)

// Components that --disable can switch off.
var Components = []string{"scheduler", "controllers", "agent", "dns", "proxy"}

// Config is the whole configuration of `skiff server`.
type Config struct {
	// DataDir holds certificates, kubeconfigs and the embedded etcd.
	DataDir string
	// EtcdServers, when set, are the client URLs of an external etcd
	// cluster used instead of the embedded member.
	EtcdServers []string
	// EtcdClientURL and EtcdPeerURL are where the embedded member listens
	// (defaults 127.0.0.1:2379 and :2380; port 0 picks a free one).
	EtcdClientURL, EtcdPeerURL string
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
	// DisableAgent runs no node agent on this host.
	DisableAgent bool
	// SchedulerConfigFile is a KubeSchedulerConfiguration for the scheduler.
	SchedulerConfigFile string
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
	// PodManifestPath is the agent's folder of static pod manifests
	// (default <DataDir>/agent/pod-manifests, as k3s has it).
	PodManifestPath string
	// agentOnly marks the node-level components of `skiff agent`, which
	// runs no control plane; nodeTLS then holds the credentials it joined with.
	agentOnly bool
	nodeTLS   *nodeCredentials
	// Logger receives the server's logs; nil discards.
	Logger *slog.Logger
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
}

func (c *Config) validate() error {
	known := knownDisableNames(*c)
	for _, d := range c.Disable {
		if !known[d] {
			return fmt.Errorf("--disable %q: unknown component or controller (components: %s)", d, strings.Join(Components, ", "))
		}
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
	etcd    *etcd.Server
	etcdCl  *clientv3.Client
	api     *apiserver.Server
	store   storage.Store
	port    int
	cancel  context.CancelFunc
	// stopComponents and compWG stop and wait for the components.
	stopComponents context.CancelFunc
	compWG         sync.WaitGroup
	wg             sync.WaitGroup
	errOnce        sync.Once
	err            error
	done           chan struct{}
	StartedIn      time.Duration
}

// URL is the API server's HTTPS URL.
func (s *Server) URL() string { return s.url }

// AdminKubeconfig is the path of the admin kubeconfig.
func (s *Server) AdminKubeconfig() string { return s.adminKC }

// Store returns the store the API server keeps objects in.
func (s *Server) Store() storage.Store { return s.store }

// API returns the in-process API server.
func (s *Server) API() *apiserver.Server { return s.api }

// Start brings the control plane up and returns once it is ready.
func Start(ctx context.Context, cfg Config) (*Server, error) {
	begin := time.Now()
	cfg.setDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if cfg.AdvertiseAddress == nil {
		cfg.AdvertiseAddress = firstHostIP()
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("data dir: %w", err)
	}
	_, serviceCIDR, _ := net.ParseCIDR(cfg.ServiceCIDR)
	log := cfg.Logger

	// Listen first: a port of 0 must be known for the kubeconfig.
	ln, err := net.Listen("tcp", net.JoinHostPort(cfg.BindAddress, strconv.Itoa(portOr(cfg.HTTPSPort, 6443))))
	if err != nil {
		return nil, fmt.Errorf("listen: %w", err)
	}
	port := ln.Addr().(*net.TCPAddr).Port

	// Certificates and etcd do not depend on each other: start both at once.
	type pkiResult struct {
		tls     *tls.Config
		adminKC string
		caFile  string
		err     error
	}
	pkiCh := make(chan pkiResult, 1)
	go func() {
		t, kc, ca, err := setUpPKI(cfg, serviceCIDR, port)
		pkiCh <- pkiResult{t, kc, ca, err}
	}()
	s := &Server{cfg: cfg, done: make(chan struct{})}
	var store storage.Store
	if len(cfg.EtcdServers) > 0 {
		cl, err := etcdstore.Dial(cfg.EtcdServers, nil)
		if err != nil {
			ln.Close()
			<-pkiCh
			return nil, fmt.Errorf("etcd: %w", err)
		}
		s.etcdCl = cl
		store = etcdstore.New(cl, etcdstore.Config{})
	} else {
		e, err := etcd.Start(ctx, etcd.Config{
			DataDir:   filepath.Join(cfg.DataDir, "etcd"),
			ClientURL: cfg.EtcdClientURL,
			PeerURL:   cfg.EtcdPeerURL,
			Logger:    log,
		})
		if err != nil {
			ln.Close()
			<-pkiCh
			return nil, fmt.Errorf("etcd: %w", err)
		}
		s.etcd = e
		store = etcdstore.New(e.Client(), etcdstore.Config{})
	}
	pr := <-pkiCh
	if pr.err != nil {
		ln.Close()
		s.closeEtcd()
		return nil, pr.err
	}
	s.adminKC, s.caFile = pr.adminKC, pr.caFile
	s.port = port
	host := "127.0.0.1"
	s.url = "https://" + net.JoinHostPort(host, strconv.Itoa(port))

	scheme, err := apiserver.NewScheme()
	if err != nil {
		return nil, err
	}

	resources := all.Resources()
	ptrs := make([]*registry.Resource, len(resources))
	for i := range resources {
		ptrs[i] = &resources[i]
	}
	spec, err := openapi.New(openapi.Config{Scheme: scheme, Resources: ptrs, Version: version.Kubernetes})
	if err != nil {
		ln.Close()
		s.closeEtcd()
		return nil, err
	}
	openapiHandler := spec.Handler()
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	saKey, err := pki.LoadOrCreateServiceAccountKey(filepath.Join(cfg.DataDir, "tls"))
	if err != nil {
		ln.Close()
		s.closeEtcd()
		return nil, fmt.Errorf("service account key: %w", err)
	}
	tokens, err := auth.NewTokens(saKey, "https://kubernetes.default.svc."+cfg.ClusterDomain)
	if err != nil {
		ln.Close()
		s.closeEtcd()
		return nil, err
	}
	join, err := setUpJoin(cfg)
	if err != nil {
		ln.Close()
		s.closeEtcd()
		return nil, err
	}
	// The RBAC authorizer reads the API server's own cache, which exists
	// only once the server does.
	rbac := &auth.RBAC{}
	kubeletTLS, err := kubeletClientTLS(cfg.DataDir)
	if err != nil {
		ln.Close()
		s.closeEtcd()
		return nil, err
	}
	api, err := apiserver.New(apiserver.Config{
		KubeletTLS:    kubeletTLS,
		Store:         store,
		Scheme:        scheme,
		Resources:     resources,
		TypeConverter: spec.TypeConverter,
		OpenAPI:       spec,
		Authenticator: auth.Union{auth.X509{}, &auth.TokenAuthenticator{Tokens: tokens}},
		Tokens:        tokens,
		Authorizer:    auth.Chain{auth.Masters{}, rbac},
		ServiceCIDR:   serviceCIDR,
		Metrics:       reg,
		// Nodes join with the token in <data-dir>/node-token.
		SelfAuthenticated: join,
		Extra: map[string]http.Handler{
			"/metrics":             promhttp.HandlerFor(reg, promhttp.HandlerOpts{}),
			"/openapi/v2":          openapiHandler,
			"/openapi/v3":          openapiHandler,
			"/openapi/v3/":         openapiHandler,
			"/debug/pprof/":        http.HandlerFunc(pprof.Index),
			"/debug/pprof/profile": http.HandlerFunc(pprof.Profile),
			"/debug/pprof/trace":   http.HandlerFunc(pprof.Trace),
		},
		Logger: log,
	})
	if err != nil {
		ln.Close()
		s.closeEtcd()
		return nil, err
	}
	s.api = api
	rbac.Source = rbacSource{api}
	tokens.Live = func(_ context.Context, ns, sa string, saUID types.UID, pod *auth.BoundObject) error {
		obj, ok := api.Object("", "v1", "serviceaccounts", ns, sa)
		if !ok || (saUID != "" && accessorUID(obj) != saUID) {
			return fmt.Errorf("service account %s/%s has been deleted", ns, sa)
		}
		if pod != nil {
			obj, ok := api.Object("", "v1", "pods", ns, pod.Name)
			if !ok || accessorUID(obj) != pod.UID {
				return fmt.Errorf("pod %s/%s has been deleted", ns, pod.Name)
			}
		}
		return nil
	}
	s.store = store
	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	s.cancel = cancel
	s.wg.Go(func() {
		if err := api.Run(runCtx); err != nil {
			s.fail(err)
		}
	})
	if st, ok := store.(interface{ Run(context.Context) error }); ok {
		s.wg.Go(func() { _ = st.Run(runCtx) })
	}
	select {
	case <-api.Cache().Ready():
	case <-ctx.Done():
		s.Close()
		return nil, ctx.Err()
	}
	s.wg.Go(func() {
		if err := api.Serve(runCtx, ln, pr.tls); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.fail(fmt.Errorf("serve: %w", err))
		}
	})
	if err := api.Bootstrap(ctx, apiserver.BootstrapConfig{AdvertiseAddress: cfg.AdvertiseAddress, Port: port}); err != nil {
		s.Close()
		return nil, err
	}
	if err := ensureRBACDefaults(ctx, api); err != nil {
		s.Close()
		return nil, err
	}
	compCtx, stopComponents := context.WithCancel(runCtx)
	s.stopComponents = stopComponents
	if err := s.startComponents(compCtx); err != nil {
		s.Close()
		return nil, err
	}
	s.StartedIn = time.Since(begin)
	log.Info("skiff server ready", "url", s.url, "kubeconfig", s.adminKC, "startup", s.StartedIn)
	return s, nil
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

// firstHostIP is the first global unicast IPv4 address of this host, or
// loopback when there is none.
func firstHostIP() net.IP {
	addrs, err := net.InterfaceAddrs()
	if err == nil {
		for _, a := range addrs {
			if n, ok := a.(*net.IPNet); ok && n.IP.To4() != nil && n.IP.IsGlobalUnicast() {
				return n.IP
			}
		}
	}
	return net.IPv4(127, 0, 0, 1)
}

// accessorUID is the UID of an object with metadata.
func accessorUID(obj runtime.Object) types.UID {
	if m, err := meta.Accessor(obj); err == nil {
		return m.GetUID()
	}
	return ""
}
