package manager

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"sync"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/uuid"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/metadata/metadatainformer"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/events"
	"k8s.io/client-go/tools/leaderelection"
	"k8s.io/client-go/tools/leaderelection/resourcelock"
	"k8s.io/utils/clock"

	"skiff/internal/cachetrim"
	"skiff/internal/controller"
)

// defaultWorkers are upstream's default concurrent syncs per controller;
// controllers not listed get one worker.
var defaultWorkers = map[string]int{
	"replicaset": 5, "replicationcontroller": 5, "deployment": 5,
	"garbagecollector": 20, "namespace": 10, "serviceaccount": 1,
	"root-ca-cert-publisher": 1, "endpoints": 5, "endpointslice": 5,
	"endpointslicemirroring": 5, "statefulset": 5, "daemonset": 2, "job": 5,
	"cronjob": 5, "resourcequota": 5, "horizontalpodautoscaling": 5,
	"disruption": 5, "ttl-after-finished": 5, "svm": 5, "clusterrole-aggregation": 5,
}

// Config configures a Manager.
type Config struct {
	// RESTConfig reaches the API server; required.
	RESTConfig *rest.Config
	// Controllers maps a controller's name to its constructor; required.
	Controllers map[string]controller.Constructor
	// Disabled names controllers not to run.
	Disabled map[string]bool
	// ServiceAccounts names, by controller, the ServiceAccount in
	// AccountNamespace that the controller acts as, as upstream's
	// --use-service-account-credentials: its clients authenticate with
	// tokens of that account, which the manager requests with its own
	// credentials (creating the account if needed) and renews. A
	// controller not named here acts with RESTConfig. The shared informers
	// and the event recorders always use RESTConfig.
	ServiceAccounts map[string]string
	// AccountNamespace holds the controllers' ServiceAccounts (kube-system).
	AccountNamespace string
	// Workers overrides the number of workers of a controller by name.
	Workers map[string]int
	// LeaseNamespace and LeaseName name the Lease instances compete for
	// (kube-system/kube-controller-manager).
	LeaseNamespace, LeaseName string
	// Identity is this instance's holder identity (hostname_uuid).
	Identity string
	// LeaseDuration, RenewDeadline and RetryPeriod are the leader election
	// timings (15 s, 10 s, 2 s as upstream).
	LeaseDuration, RenewDeadline, RetryPeriod time.Duration
	// Clock is given to controllers; the real clock by default.
	Clock clock.WithTicker
	// Logger receives the manager's and controllers' logs; nil discards.
	Logger *slog.Logger
}

func (c *Config) setDefaults() {
	if c.LeaseNamespace == "" {
		c.LeaseNamespace = "kube-system"
	}
	if c.AccountNamespace == "" {
		c.AccountNamespace = "kube-system"
	}
	if c.LeaseName == "" {
		c.LeaseName = "kube-controller-manager"
	}
	if c.Identity == "" {
		host, _ := os.Hostname()
		c.Identity = host + "_" + string(uuid.NewUUID())
	}
	if c.LeaseDuration == 0 {
		c.LeaseDuration = 15 * time.Second
	}
	if c.RenewDeadline == 0 {
		c.RenewDeadline = 10 * time.Second
	}
	if c.RetryPeriod == 0 {
		c.RetryPeriod = 2 * time.Second
	}
	if c.Clock == nil {
		c.Clock = clock.RealClock{}
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
}

func (c *Config) validate() error {
	if c.RESTConfig == nil {
		return errors.New("new controller manager: RESTConfig is required")
	}
	for name := range c.ServiceAccounts {
		if _, ok := c.Controllers[name]; !ok {
			return fmt.Errorf("new controller manager: service account for unknown controller %q", name)
		}
	}
	for name := range c.Disabled {
		if _, ok := c.Controllers[name]; !ok {
			return fmt.Errorf("new controller manager: cannot disable unknown controller %q", name)
		}
	}
	return nil
}

// Manager runs a set of controllers under a Lease.
type Manager struct {
	cfg      Config
	client   kubernetes.Interface
	dynamic  dynamic.Interface
	metadata metadata.Interface
	// own are the clients of the controllers with a ServiceAccount.
	own map[string]clients
}

// New validates cfg and builds the clients.
func New(cfg Config) (*Manager, error) {
	cfg.setDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	root, err := newClients(cfg.RESTConfig)
	if err != nil {
		return nil, fmt.Errorf("new controller manager: %w", err)
	}
	m := &Manager{cfg: cfg, client: root.typed, dynamic: root.dynamic, metadata: root.metadata, own: map[string]clients{}}
	for name, account := range cfg.ServiceAccounts {
		if cfg.Disabled[name] {
			continue
		}
		c, err := newClients(accountConfig(cfg.RESTConfig, root.typed, cfg.AccountNamespace, account))
		if err != nil {
			return nil, fmt.Errorf("new controller manager: clients of %s: %w", name, err)
		}
		m.own[name] = c
	}
	return m, nil
}

// Enabled returns the names of the controllers that will run, sorted.
func (m *Manager) Enabled() []string {
	var out []string
	for name := range m.cfg.Controllers {
		if !m.cfg.Disabled[name] {
			out = append(out, name)
		}
	}
	slices.Sort(out)
	return out
}

// Run competes for the Lease and, while leading, runs the controllers. It
// returns nil when ctx is done and an error when the Lease is lost or a
// controller fails to start.
func (m *Manager) Run(ctx context.Context) error {
	log := m.cfg.Logger
	lock := &resourcelock.LeaseLock{
		LeaseMeta:  metav1.ObjectMeta{Namespace: m.cfg.LeaseNamespace, Name: m.cfg.LeaseName},
		Client:     m.client.CoordinationV1(),
		LockConfig: resourcelock.ResourceLockConfig{Identity: m.cfg.Identity},
	}
	// The elector runs on its own context, cancelled only once the
	// controllers have stopped: releasing the Lease earlier would let
	// another instance start while these still act.
	leCtx, leCancel := context.WithCancel(context.WithoutCancel(ctx))
	defer leCancel()
	var (
		mu      sync.Mutex
		runErr  error
		leading bool
	)
	stopWatch := context.AfterFunc(ctx, func() {
		mu.Lock()
		defer mu.Unlock()
		if !leading {
			leCancel()
		}
	})
	defer stopWatch()
	le, err := leaderelection.NewLeaderElector(leaderelection.LeaderElectionConfig{
		Lock:            lock,
		LeaseDuration:   m.cfg.LeaseDuration,
		RenewDeadline:   m.cfg.RenewDeadline,
		RetryPeriod:     m.cfg.RetryPeriod,
		ReleaseOnCancel: true,
		Name:            m.cfg.LeaseName,
		Callbacks: leaderelection.LeaderCallbacks{
			OnStartedLeading: func(lctx context.Context) {
				defer leCancel()
				mu.Lock()
				leading = true
				mu.Unlock()
				if ctx.Err() != nil {
					return
				}
				log.Info("leading", "identity", m.cfg.Identity)
				// Stop when the Lease is lost (lctx) or the caller stops (ctx).
				rctx, rcancel := context.WithCancel(lctx)
				stop := context.AfterFunc(ctx, rcancel)
				err := m.runControllers(rctx, log)
				stop()
				rcancel()
				mu.Lock()
				runErr = err
				mu.Unlock()
			},
			OnStoppedLeading: func() {},
		},
	})
	if err != nil {
		return fmt.Errorf("run controller manager: %w", err)
	}
	le.Run(leCtx)
	mu.Lock()
	defer mu.Unlock()
	switch {
	case runErr != nil:
		return fmt.Errorf("run controller manager: %w", runErr)
	case ctx.Err() != nil:
		return nil
	case leading:
		return errors.New("run controller manager: lost the lease")
	}
	return errors.New("run controller manager: stopped before leading")
}

// runControllers builds, starts and runs every enabled controller until
// ctx is done.
func (m *Manager) runControllers(ctx context.Context, log *slog.Logger) error {
	// As upstream's, the controllers' informers keep no managedFields.
	factory := informers.NewSharedInformerFactoryWithOptions(m.client, 0, informers.WithTransform(cachetrim.ManagedFields))
	mdFactory := metadatainformer.NewSharedInformerFactoryWithOptions(m.metadata, 0, metadatainformer.WithTransform(cachetrim.ManagedFields))
	broadcaster := events.NewBroadcaster(&events.EventSinkImpl{Interface: m.client.EventsV1()})
	if err := broadcaster.StartRecordingToSinkWithContext(ctx); err != nil {
		return fmt.Errorf("start event broadcaster: %w", err)
	}
	defer broadcaster.Shutdown()

	type running struct {
		name string
		c    controller.Controller
	}
	var ctrls []running
	for _, name := range m.Enabled() {
		cl, ok := m.own[name]
		if !ok {
			cl = clients{m.client, m.dynamic, m.metadata}
		}
		c, err := m.cfg.Controllers[name](controller.Context{
			Client:            cl.typed,
			Dynamic:           cl.dynamic,
			Metadata:          cl.metadata,
			Informers:         factory,
			MetadataInformers: mdFactory,
			Events:            broadcaster.NewRecorder(scheme.Scheme, eventSource(name)),
			Clock:             m.cfg.Clock,
			Logger:            m.cfg.Logger.With("controller", name),
		})
		if err != nil {
			return fmt.Errorf("construct controller %s: %w", name, err)
		}
		if c == nil {
			continue
		}
		ctrls = append(ctrls, running{name, c})
	}
	factory.Start(ctx.Done())
	mdFactory.Start(ctx.Done())
	defer factory.Shutdown()
	defer mdFactory.Shutdown()
	for typ, ok := range factory.WaitForCacheSync(ctx.Done()) {
		if !ok && ctx.Err() == nil {
			return fmt.Errorf("sync informer %v", typ)
		}
	}
	for gvr, ok := range mdFactory.WaitForCacheSync(ctx.Done()) {
		if !ok && ctx.Err() == nil {
			return fmt.Errorf("sync metadata informer %v", gvr)
		}
	}
	log.Info("informers synced", "controllers", len(ctrls))
	var wg sync.WaitGroup
	errs := make(chan error, len(ctrls))
	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	for _, r := range ctrls {
		workers := defaultWorkers[r.name]
		if w, ok := m.cfg.Workers[r.name]; ok {
			workers = w
		}
		if workers < 1 {
			workers = 1
		}
		wg.Go(func() {
			if err := r.c.Run(cctx, workers); err != nil && cctx.Err() == nil {
				errs <- fmt.Errorf("controller %s: %w", r.name, err)
				cancel()
			}
		})
	}
	wg.Wait()
	close(errs)
	return <-errs
}

// eventSource is the component a controller's events come from: upstream's
// "<name>-controller", except where upstream's differs (the PV binder's
// events come from "persistentvolume-controller", an external
// provisioner's from its provisioner name).
func eventSource(name string) string {
	switch name {
	case "persistentvolume-binder":
		return "persistentvolume-controller"
	case "local-path":
		return "skiff.io/local-path"
	}
	return name + "-controller"
}
