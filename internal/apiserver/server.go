package apiserver

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"github.com/prometheus/client_golang/prometheus"
	"log/slog"
	"net"
	"net/http"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/runtime/serializer/protobuf"
	"k8s.io/apimachinery/pkg/util/managedfields"

	"skiff/internal/apiserver/admission"
	"skiff/internal/apiserver/admission/podsecurity"
	"skiff/internal/apiserver/allocator"
	"skiff/internal/apiserver/apf"
	"skiff/internal/apiserver/audit"
	"skiff/internal/apiserver/auth"
	"skiff/internal/apiserver/conversion"
	"skiff/internal/apiserver/fieldmanager"
	"skiff/internal/apiserver/registry"
	"skiff/internal/apiserver/usage"
	"skiff/internal/apiserver/watchcache"
	"skiff/internal/apiserver/webhookclient"
	"skiff/internal/storage"
)

type metav1Object = metav1.Object

// GVK is a group, version and kind.
type GVK = schema.GroupVersionKind

// Authenticator says who sent a request.
type Authenticator interface {
	// Authenticate returns the user, false if the request carries no
	// credentials this authenticator understands, or an error for bad ones.
	Authenticate(r *http.Request) (*auth.User, bool, error)
}

// The auth package provides them.
var (
	_ Authenticator = auth.Authenticator(nil)
	_ Authorizer    = auth.Authorizer(nil)
	_ TokenIssuer   = (*auth.Tokens)(nil)
)

// Authorizer decides whether a request may proceed.
type Authorizer interface {
	// Authorize returns whether a is allowed and, when not, why.
	Authorize(ctx context.Context, a auth.Attributes) (allowed bool, reason string, err error)
}

// Config configures the API server.
type Config struct {
	// Store is where objects live.
	Store storage.Store
	// Scheme knows every served type.
	Scheme *runtime.Scheme
	// Resources are the served resources.
	Resources []registry.Resource
	// Authenticator and Authorizer guard every request but the public
	// health and version paths.
	Authenticator Authenticator
	Authorizer    Authorizer
	// Escalation, when set, refuses creates and updates of Roles,
	// ClusterRoles and their bindings that would grant what their writer
	// does not hold, as upstream's RBAC storage does.
	Escalation EscalationChecker
	// ServiceCIDR is where ClusterIPs come from (default 10.43.0.0/16).
	ServiceCIDR *net.IPNet
	// NodePortMin and NodePortMax bound NodePorts (default 30000-32767).
	NodePortMin, NodePortMax int
	// Extra handlers mounted on exact paths or prefixes (ending in "/"),
	// e.g. OpenAPI and metrics; they run after authentication.
	Extra map[string]http.Handler
	// SelfAuthenticated handlers, on exact paths or prefixes (ending in
	// "/"), run before authentication: they check their callers
	// themselves (a node joining with a token, the dashboard's cookie).
	SelfAuthenticated map[string]http.Handler
	// Public are extra paths that anonymous callers may GET.
	Public []string
	// HealthChecks are checked, after the watch cache has loaded, by
	// /healthz, /livez and /readyz (each alone at /readyz/<name>), as
	// upstream's etcd check.
	HealthChecks []HealthCheck
	// TypeConverter, called once on first need, gives the schemas that
	// managedFields and server-side apply work with; nil leaves managedFields
	// as clients send them and refuses apply patches.
	TypeConverter func() (managedfields.TypeConverter, error)
	// OpenAPI, when set, is told about the group versions of custom
	// resources as CRDs come and go.
	OpenAPI OpenAPIRegistry
	// Tokens, when set, issues service account tokens (serviceaccounts/token).
	Tokens TokenIssuer
	// KubeletTLS is the client TLS configuration toward node agents, for
	// pods/log, exec, attach and portforward, and for reading their stats
	// Summary (metrics.k8s.io); nil refuses those.
	KubeletTLS *tls.Config
	// MetricsResolution is how often every Ready node's stats Summary is
	// read for metrics.k8s.io; zero is DefaultMetricsResolution.
	MetricsResolution time.Duration
	// ProxyClientCert returns the front-proxy client certificate presented
	// to extension API servers of APIServices, at each handshake (it is
	// renewed while the server runs); nil leaves them unavailable.
	ProxyClientCert func(*tls.CertificateRequestInfo) (*tls.Certificate, error)
	// AggregatorRouting sends APIService requests to a ready endpoint of
	// the Service rather than its ClusterIP, as upstream's
	// --enable-aggregator-routing.
	AggregatorRouting bool
	// PodSecurity configures the PodSecurity admission plugin (from the
	// admission configuration file); nil is privileged everywhere.
	PodSecurity *podsecurity.Configuration
	// Metrics, when set, receives the API server's request metrics.
	Metrics prometheus.Registerer
	// AuditPolicy and AuditLog, set together, record requests in the audit
	// log as upstream's --audit-policy-file and --audit-log-path; unset,
	// nothing is recorded and requests pay nothing for it.
	AuditPolicy *audit.Policy
	AuditLog    AuditLog
	// ServerConcurrency is the number of seats API Priority and Fairness
	// shares among the priority levels (default 600).
	ServerConcurrency int
	// MaxInflight, when set, turns API Priority and Fairness off for
	// upstream's older limit: at most [0] reads and [1] writes at once,
	// beyond which a request is refused with 429 (upstream's
	// --enable-priority-and-fairness=false). Long-running requests and
	// the system:masters group are not counted.
	MaxInflight *[2]int
	// RequestTimeout bounds requests but long-running ones (default 60s);
	// a request's timeout parameter may shorten it. A quarter of it bounds
	// the wait in a flow-control queue, as upstream.
	RequestTimeout time.Duration
	// IdleTimeout closes keep-alive connections idle that long (default
	// 90s).
	IdleTimeout time.Duration
	// MaxWatchesPerUser bounds each user's concurrent watches (default
	// DefaultMaxWatchesPerUser; negative: no bound). Exempt users (the
	// system:masters group) are not counted.
	MaxWatchesPerUser int
	// Logger for request failures; nil discards.
	Logger *slog.Logger
}

// Server serves the Kubernetes API.
type Server struct {
	cfg       Config
	codecs    *codecs
	storeCodc *protobuf.Serializer
	cache     *watchcache.Cache
	log       *slog.Logger

	// builtin are the resources of cfg.Resources, in order.
	builtin []*resource
	// view is what is served now: the built-in resources plus those of
	// established CRDs. It is replaced whole (under viewMu) when a CRD
	// comes or goes, so handlers read it without locks.
	view   atomic.Pointer[apiView]
	viewMu sync.Mutex
	// custom holds the resources of each established CRD, by CRD name.
	custom map[string]*customAPI

	fields  *fieldmanager.Managers
	alloc   *allocator.Allocator
	metrics *metrics
	mux     *http.ServeMux
	// admission is the admission chain: built-in plugins, webhooks and
	// ValidatingAdmissionPolicies.
	admission *admission.Chain
	// converter calls CRDs' conversion webhooks.
	converter *conversion.Webhook
	// remote are the group versions of APIServices served by extension
	// API servers, replaced whole by runAPIServices; proxyClients reach
	// them with the front-proxy client certificate.
	remote       atomic.Pointer[remoteView]
	proxyClients *webhookclient.Pool
	// apf is API Priority and Fairness; watches counts users' watches.
	apf *apf.Controller
	// inflight, when set, replaces apf (Config.MaxInflight).
	inflight *inflightLimit
	watches  watchCounts
	// usage is what runMetrics collected from the nodes, served as
	// metrics.k8s.io.
	usage *usage.Store
}

// groupInfo is one API group and its versions, in preference order.
type groupInfo struct {
	name     string
	versions []string
}

// New builds a Server from cfg.
func New(cfg Config) (*Server, error) {
	if cfg.Store == nil || cfg.Scheme == nil {
		return nil, errors.New("apiserver: Store and Scheme are required")
	}
	limitJSONPatchCopies()
	if cfg.ServiceCIDR == nil {
		_, cidr, _ := net.ParseCIDR("10.43.0.0/16")
		cfg.ServiceCIDR = cidr
	}
	if cfg.NodePortMin == 0 {
		cfg.NodePortMin, cfg.NodePortMax = 30000, 32767
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.ServerConcurrency <= 0 {
		cfg.ServerConcurrency = DefaultServerConcurrency
	}
	if cfg.RequestTimeout <= 0 {
		cfg.RequestTimeout = DefaultRequestTimeout
	}
	if cfg.IdleTimeout <= 0 {
		cfg.IdleTimeout = DefaultIdleTimeout
	}
	if cfg.MetricsResolution <= 0 {
		cfg.MetricsResolution = DefaultMetricsResolution
	}
	if cfg.MaxWatchesPerUser == 0 {
		cfg.MaxWatchesPerUser = DefaultMaxWatchesPerUser
	}
	if (cfg.AuditPolicy == nil) != (cfg.AuditLog == nil) {
		return nil, errors.New("apiserver: AuditPolicy and AuditLog go together")
	}
	s := &Server{
		cfg:       cfg,
		codecs:    newCodecs(cfg.Scheme),
		storeCodc: protobuf.NewSerializer(cfg.Scheme, cfg.Scheme),
		log:       cfg.Logger,
		custom:    map[string]*customAPI{},
		apf:       apf.New(apf.Config{ServerConcurrency: cfg.ServerConcurrency, QueueWait: cfg.RequestTimeout / 4}),
		usage:     usage.NewStore(),
	}
	if m := cfg.MaxInflight; m != nil {
		s.inflight = &inflightLimit{reads: make(chan struct{}, max(1, m[0])), writes: make(chan struct{}, max(1, m[1]))}
	}
	buckets := map[string]bool{}
	seen := map[string]bool{}
	for i := range cfg.Resources {
		r := newResource(&cfg.Resources[i])
		k := gvrKey(r.gvr)
		if seen[k] {
			return nil, fmt.Errorf("apiserver: resource %s registered twice", k)
		}
		seen[k] = true
		s.builtin = append(s.builtin, r)
		if isMetricsResource(r) {
			// Nothing is stored under metrics.k8s.io; its own bucket keeps
			// it apart from the core nodes and pods it shares names with.
			r.bucket = registryPrefix + r.GroupVersion.Group + "/" + r.Resource.Resource + "/"
			continue
		}
		buckets[r.bucket] = true
	}
	s.rebuildView()
	var bucketList []string
	for b := range buckets {
		bucketList = append(bucketList, b)
	}
	sort.Strings(bucketList)
	terminated := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "apiserver_terminated_watchers_total",
		Help: "Counter of watchers closed due to unresponsiveness broken by resource type.",
	}, []string{"resource"})
	if cfg.Metrics != nil {
		cfg.Metrics.MustRegister(terminated)
	}
	s.cache = watchcache.New(watchcache.Config{
		Store:   cfg.Store,
		Prefix:  registryPrefix,
		Buckets: bucketList,
		Decode:  s.decodeStored,
		Logger:  cfg.Logger,
		TooSlow: func(bucket string) {
			terminated.WithLabelValues(strings.Trim(strings.TrimPrefix(bucket, registryPrefix), "/")).Inc()
		},
	})
	if cfg.TypeConverter != nil {
		fields, err := fieldmanager.New(fieldmanager.Config{TypeConverter: cfg.TypeConverter, Scheme: cfg.Scheme})
		if err != nil {
			return nil, err
		}
		s.fields = fields
	}
	alloc, err := allocator.New(allocator.Config{Store: cfg.Store, ServiceCIDR: cfg.ServiceCIDR, NodePortMin: cfg.NodePortMin, NodePortMax: cfg.NodePortMax})
	if err != nil {
		return nil, err
	}
	s.alloc = alloc
	s.metrics = newMetrics(cfg.Metrics)
	if cfg.ProxyClientCert != nil {
		s.proxyClients = webhookclient.NewClientCertPool(cfg.ProxyClientCert)
	}
	if s.converter, err = conversion.New(conversion.Config{Services: s.lookupService}); err != nil {
		return nil, err
	}
	chain, err := admission.New(admission.Config{Objects: cacheObjects{s}, Namespaces: admissionStore{s}, Quotas: admissionStore{s},
		TypeConverter: cfg.TypeConverter, PodSecurity: cfg.PodSecurity, Authorizer: admissionAuthorizer{s}})
	if err != nil {
		return nil, err
	}
	s.admission = chain
	s.mux = s.buildMux()
	return s, nil
}

func gvrKey(gvr schema.GroupVersionResource) string {
	return gvr.Group + "/" + gvr.Version + "/" + gvr.Resource
}

// lookup finds a served resource.
func (s *Server) lookup(group, version, res string) (*resource, bool) {
	r, ok := s.view.Load().resources[group+"/"+version+"/"+res]
	return r, ok
}

// apiView is the set of served resources at one moment.
type apiView struct {
	// resources by "group/version/resource".
	resources map[string]*resource
	// ordered lists them as discovery does: built-in first.
	ordered []*resource
	groups  []groupInfo
}

// rebuildView publishes the built-in resources plus the custom ones. The
// caller holds viewMu (or is New).
func (s *Server) rebuildView() {
	v := &apiView{resources: map[string]*resource{}}
	v.ordered = append(v.ordered, s.builtin...)
	names := make([]string, 0, len(s.custom))
	for n := range s.custom {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		v.ordered = append(v.ordered, s.custom[n].resources...)
	}
	groupVersions := map[string]map[string]bool{}
	var groupOrder []string
	for _, r := range v.ordered {
		k := gvrKey(r.gvr)
		if _, dup := v.resources[k]; dup {
			continue
		}
		v.resources[k] = r
		g := r.GroupVersion.Group
		if groupVersions[g] == nil {
			groupVersions[g] = map[string]bool{}
			groupOrder = append(groupOrder, g)
		}
		groupVersions[g][r.GroupVersion.Version] = true
	}
	for _, g := range groupOrder {
		var vs []string
		for ver := range groupVersions[g] {
			vs = append(vs, ver)
		}
		sort.Slice(vs, func(i, j int) bool { return versionLess(vs[j], vs[i]) })
		v.groups = append(v.groups, groupInfo{name: g, versions: vs})
	}
	s.view.Store(v)
}

// Cache exposes the watch cache (for readiness and tests).
func (s *Server) Cache() *watchcache.Cache { return s.cache }

// Run follows the store until ctx is done. Handler serves requests as soon
// as the cache is ready.
func (s *Server) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	wg.Go(func() { s.runCRDs(ctx) })
	wg.Go(func() { s.runAPIServices(ctx) })
	wg.Go(func() { s.runFlowControl(ctx) })
	wg.Go(func() { s.runMetrics(ctx) })
	err := s.cache.Run(ctx)
	wg.Wait()
	return err
}

// Handler returns the HTTP handler of the whole API.
func (s *Server) Handler() http.Handler { return s }

// Serve runs the API over TLS on l until ctx is done, then shuts down
// gracefully (watches are cut).
func (s *Server) Serve(ctx context.Context, l net.Listener, tlsConfig *tls.Config) error {
	srv := &http.Server{
		Handler:           s,
		TLSConfig:         tlsConfig,
		ReadHeaderTimeout: 32 * time.Second,
		IdleTimeout:       s.cfg.IdleTimeout,
		MaxHeaderBytes:    1 << 20,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
		BaseContext:       func(net.Listener) context.Context { return ctx },
	}
	errc := make(chan error, 1)
	go func() {
		if tlsConfig != nil {
			errc <- srv.ServeTLS(l, "", "")
		} else {
			errc <- srv.Serve(l)
		}
	}()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_ = srv.Shutdown(sctx)
	_ = srv.Close()
	<-errc
	return nil
}

// decodeStored turns a stored value into an object of the storage kind with
// its resourceVersion set.
func (s *Server) decodeStored(key string, value []byte, rev int64) (runtime.Object, error) {
	if isCustomStored(value) {
		u := &unstructured.Unstructured{}
		if err := u.UnmarshalJSON(value); err != nil {
			return nil, fmt.Errorf("decode %s: %w", key, err)
		}
		u.SetResourceVersion(fmt.Sprint(rev))
		return u, nil
	}
	obj, gvk, err := s.storeCodc.Decode(value, nil, nil)
	if err != nil {
		return nil, fmt.Errorf("decode %s: %w", key, err)
	}
	obj.GetObjectKind().SetGroupVersionKind(*gvk)
	accessor(obj).SetResourceVersion(fmt.Sprint(rev))
	return obj, nil
}

// encodeStored encodes obj (of the storage kind) for the store, without its
// resourceVersion. It changes obj's resourceVersion: pass an object you own.
func (s *Server) encodeStored(r *resource, obj runtime.Object) ([]byte, error) {
	obj.GetObjectKind().SetGroupVersionKind(r.storageGVK)
	m := accessor(obj)
	rv := m.GetResourceVersion()
	m.SetResourceVersion("")
	defer m.SetResourceVersion(rv)
	if u, ok := obj.(*unstructured.Unstructured); ok && r.custom != nil {
		data, err := u.MarshalJSON()
		if err != nil {
			return nil, fmt.Errorf("encode %s: %w", r.gvk.Kind, err)
		}
		return data, nil
	}
	data, err := runtime.Encode(s.storeCodc, obj)
	if err != nil {
		return nil, fmt.Errorf("encode %s: %w", r.gvk.Kind, err)
	}
	return data, nil
}

// storeError maps a storage error to the API error a client sees.
func storeError(r *resource, name string, err error) error {
	switch {
	case errors.Is(err, storage.ErrNotFound):
		return apierrors.NewNotFound(r.groupResource(), name)
	case errors.Is(err, storage.ErrExists):
		return apierrors.NewAlreadyExists(r.groupResource(), name)
	case errors.Is(err, storage.ErrConflict):
		return apierrors.NewConflict(r.groupResource(), name, errors.New(optimisticLockMsg))
	case errors.Is(err, storage.ErrCompacted):
		return apierrors.NewResourceExpired("The resourceVersion for the provided watch is too old.")
	case errors.Is(err, context.DeadlineExceeded):
		return requestTimedOut()
	}
	var st apierrors.APIStatus
	if errors.As(err, &st) {
		return err
	}
	return apierrors.NewInternalError(err)
}

const optimisticLockMsg = "the object has been modified; please apply your changes to the latest version and try again"

// versionLess orders Kubernetes versions: v1alpha1 < v1beta1 < v1 < v2.
func versionLess(a, b string) bool {
	pa, pb := parseVersion(a), parseVersion(b)
	if pa.stability != pb.stability {
		return pa.stability < pb.stability
	}
	if pa.major != pb.major {
		return pa.major < pb.major
	}
	return pa.minor < pb.minor
}

type parsedVersion struct{ major, stability, minor int }

func parseVersion(v string) parsedVersion {
	var p parsedVersion
	n, _ := fmt.Sscanf(v, "v%d", &p.major)
	if n == 0 {
		return p
	}
	rest := v[len(fmt.Sprintf("v%d", p.major)):]
	switch {
	case rest == "":
		p.stability = 3
	case len(rest) > 4 && rest[:4] == "beta":
		p.stability = 2
		fmt.Sscanf(rest[4:], "%d", &p.minor)
	case len(rest) > 5 && rest[:5] == "alpha":
		p.stability = 1
		fmt.Sscanf(rest[5:], "%d", &p.minor)
	}
	return p
}
