package proxy

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"time"

	v1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"

	"skiff/internal/cachetrim"
)

// RouteSyncer programs the routes to the other nodes' pod networks.
type RouteSyncer interface {
	// SyncRoutes makes the host's routes match nodes (every Node object,
	// this node included). It is idempotent.
	SyncRoutes(ctx context.Context, nodes []*v1.Node) error
}

// Config configures a Proxy.
type Config struct {
	// Client talks to the API server. Required.
	Client kubernetes.Interface
	// NodeName is this node's name. Required.
	NodeName string
	// Applier programs the ruleset. Required.
	Applier Applier
	// Routes, when set, is given every Node on each sync so that the other
	// nodes' podCIDRs stay routed (host-gw).
	Routes RouteSyncer
	// ClusterCIDR is the cluster's pod network (default 10.42.0.0/16).
	ClusterCIDR netip.Prefix
	// ServiceCIDR is the ClusterIP range (default 10.43.0.0/16).
	ServiceCIDR netip.Prefix
	// NodePortAddresses restricts the addresses NodePorts answer on; empty
	// means this Node's InternalIPs and ExternalIPs.
	NodePortAddresses []netip.Prefix
	// DisableLocalhostNodePorts stops NodePorts answering on 127.0.0.1.
	DisableLocalhostNodePorts bool
	// SetRouteLocalnet makes Run set net.ipv4.conf.all.route_localnet=1,
	// without which NodePorts on 127.0.0.1 cannot reach pods. The server
	// sets it; tests leave the host's sysctls alone.
	SetRouteLocalnet bool
	// MinSyncInterval is the least time between two syncs (default 100ms):
	// bursts of changes are applied together.
	MinSyncInterval time.Duration
	// MaxRetryInterval caps the back-off after failed syncs (default 10s).
	MaxRetryInterval time.Duration
	// Logger receives the proxy's logs; nil discards.
	Logger *slog.Logger
}

func (c *Config) setDefaults() {
	if !c.ClusterCIDR.IsValid() {
		c.ClusterCIDR = netip.MustParsePrefix("10.42.0.0/16")
	}
	if !c.ServiceCIDR.IsValid() {
		c.ServiceCIDR = netip.MustParsePrefix("10.43.0.0/16")
	}
	if c.MinSyncInterval == 0 {
		c.MinSyncInterval = 100 * time.Millisecond
	}
	if c.MaxRetryInterval == 0 {
		c.MaxRetryInterval = 10 * time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
}

func (c *Config) validate() error {
	switch {
	case c.Client == nil:
		return errors.New("new proxy: Client is required")
	case c.NodeName == "":
		return errors.New("new proxy: NodeName is required")
	case c.Applier == nil:
		return errors.New("new proxy: Applier is required")
	case !c.ClusterCIDR.Addr().Is4() || !c.ServiceCIDR.Addr().Is4():
		return fmt.Errorf("new proxy: cluster CIDR %s and service CIDR %s must be IPv4", c.ClusterCIDR, c.ServiceCIDR)
	}
	return nil
}

// Proxy keeps the node's service rules (and pod routes) in line with the
// API server.
type Proxy struct {
	cfg Config
	log *slog.Logger
}

// New returns a Proxy; Run starts it.
func New(cfg Config) (*Proxy, error) {
	cfg.setDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	return &Proxy{cfg: cfg, log: cfg.Logger}, nil
}

// Run watches Services, EndpointSlices and Nodes and syncs until ctx is
// done. Every change wakes the loop; a sync reads the informers' caches
// (level-based), so a burst of changes costs one sync. A failed sync is
// retried with back-off and makes the Applier resync fully.
func (p *Proxy) Run(ctx context.Context) error {
	if p.cfg.SetRouteLocalnet && !p.cfg.DisableLocalhostNodePorts {
		if err := os.WriteFile("/proc/sys/net/ipv4/conf/all/route_localnet", []byte("1"), 0o644); err != nil {
			// NodePorts still work on the node's addresses.
			p.log.Warn("cannot enable route_localnet; NodePorts on 127.0.0.1 will not reach pods", "err", err)
		}
	}
	factory := informers.NewSharedInformerFactoryWithOptions(p.cfg.Client, 0, informers.WithTransform(cachetrim.ManagedFields))
	services := factory.Core().V1().Services()
	slices := factory.Discovery().V1().EndpointSlices()
	nodes := factory.Core().V1().Nodes()

	wake := make(chan struct{}, 1)
	poke := func() {
		select {
		case wake <- struct{}{}:
		default:
		}
	}
	handler := cache.ResourceEventHandlerFuncs{
		AddFunc:    func(any) { poke() },
		UpdateFunc: func(any, any) { poke() },
		DeleteFunc: func(any) { poke() },
	}
	for _, inf := range []cache.SharedIndexInformer{services.Informer(), slices.Informer(), nodes.Informer()} {
		if _, err := inf.AddEventHandler(handler); err != nil {
			return fmt.Errorf("run proxy: %w", err)
		}
	}
	ctx, cancel := context.WithCancel(ctx)
	defer func() {
		cancel()
		factory.Shutdown()
	}()
	factory.Start(ctx.Done())
	for typ, ok := range factory.WaitForCacheSync(ctx.Done()) {
		if !ok {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("run proxy: %v cache did not sync", typ)
		}
	}
	poke()

	retry := p.cfg.MinSyncInterval
	for {
		var wait time.Duration
		select {
		case <-ctx.Done():
			return nil
		case <-wake:
		}
		svcs, _ := services.Lister().List(labels.Everything())
		eps, _ := slices.Lister().List(labels.Everything())
		allNodes, _ := nodes.Lister().List(labels.Everything())
		if err := p.sync(ctx, svcs, eps, allNodes); err != nil {
			p.log.Error("proxy sync failed", "err", err, "retryIn", retry)
			wait, retry = retry, min(2*retry, p.cfg.MaxRetryInterval)
			poke()
		} else {
			wait, retry = p.cfg.MinSyncInterval, p.cfg.MinSyncInterval
		}
		// Rate limit: changes arriving meanwhile are coalesced into one
		// wake-up.
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
	}
}

// sync computes the ruleset from the listed objects and applies it, then
// the routes.
func (p *Proxy) sync(ctx context.Context, svcs []*v1.Service, eps []*discoveryv1.EndpointSlice, nodes []*v1.Node) error {
	st := State{
		NodeName:           p.cfg.NodeName,
		ClusterCIDR:        p.cfg.ClusterCIDR,
		ServiceCIDR:        p.cfg.ServiceCIDR,
		NodePortAddresses:  p.cfg.NodePortAddresses,
		LocalhostNodePorts: !p.cfg.DisableLocalhostNodePorts,
		Services:           svcs,
		EndpointSlices:     eps,
	}
	for _, n := range nodes {
		if n.Name == p.cfg.NodeName {
			st.NodeIPs = NodeIPs(n)
		}
	}
	start := time.Now()
	r := Compute(st)
	if err := p.cfg.Applier.Apply(ctx, &r); err != nil {
		return err
	}
	p.log.Debug("proxy rules synced", "services", len(svcs), "endpointSlices", len(eps), "took", time.Since(start))
	if p.cfg.Routes != nil {
		if err := p.cfg.Routes.SyncRoutes(ctx, nodes); err != nil {
			return fmt.Errorf("sync routes: %w", err)
		}
	}
	return nil
}
