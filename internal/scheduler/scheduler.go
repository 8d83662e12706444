package scheduler

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"sync"
	"time"

	v1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/uuid"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	listersv1 "k8s.io/client-go/listers/core/v1"
	schedulinglisters "k8s.io/client-go/listers/scheduling/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/leaderelection"
	"k8s.io/client-go/tools/leaderelection/resourcelock"
	"k8s.io/client-go/tools/record"
	configv1 "k8s.io/kube-scheduler/config/v1"

	"skiff/internal/cachetrim"
	schedcache "skiff/internal/scheduler/cache"
	"skiff/internal/scheduler/framework"
	"skiff/internal/scheduler/queue"
)

// Config configures a Scheduler.
type Config struct {
	// Rest reaches the API server; ignored when Client is set.
	Rest *rest.Config
	// Client, when set, is used instead of one built from Rest.
	Client kubernetes.Interface
	// Configuration is a KubeSchedulerConfiguration; when nil, ConfigFile
	// is read, and when that is empty the defaults apply.
	Configuration *configv1.KubeSchedulerConfiguration
	ConfigFile    string
	// Identity names this instance in the Lease (hostname_uid by default).
	Identity string
	// DisableLeaderElection schedules without taking the Lease.
	DisableLeaderElection bool
	// LeaseDuration, RenewDeadline and RetryPeriod time the Lease (15 s,
	// 10 s, 2 s, or the configuration's leaderElection values).
	LeaseDuration, RenewDeadline, RetryPeriod time.Duration
	// Parallelism bounds Filter/Score workers (configuration, else 16).
	Parallelism int
	// MaxConcurrentBindings bounds bindings in flight (default 64: enough
	// for thousands of bindings per second, and below the API server's
	// HTTP/2 stream limit, past which the client opens more TLS
	// connections).
	MaxConcurrentBindings int
	// Logger receives the scheduler's logs; nil discards.
	Logger *slog.Logger
}

// Scheduler places pending pods on nodes.
type Scheduler struct {
	cfg       Config
	client    kubernetes.Interface
	informers informers.SharedInformerFactory
	log       *slog.Logger

	cache    *schedcache.Cache
	queue    *queue.Queue
	snapshot *schedcache.Snapshot
	profiles map[string]*framework.Framework
	algo     *algorithm

	broadcaster record.EventBroadcaster
	recorders   map[string]record.EventRecorder

	podLister      listersv1.PodLister
	priorityLister schedulinglisters.PriorityClassLister

	leaseNamespace, leaseName string
	bindSem                   chan struct{}
	bindWG                    sync.WaitGroup
	leading                   chan struct{}
	leadingOnce               sync.Once
}

// New builds a Scheduler; it talks to the API server only once Run starts.
func New(cfg Config) (*Scheduler, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	client := cfg.Client
	if client == nil {
		if cfg.Rest == nil {
			return nil, errors.New("new scheduler: no API server configuration")
		}
		// Protobuf, as upstream's scheduler defaults to: bindings, events
		// and the pod watch are cheaper to encode and decode on both ends.
		rc := rest.CopyConfig(cfg.Rest)
		if rc.ContentType == "" {
			rc.ContentType = "application/vnd.kubernetes.protobuf"
			rc.AcceptContentTypes = "application/vnd.kubernetes.protobuf,application/json"
		}
		var err error
		client, err = kubernetes.NewForConfig(rc)
		if err != nil {
			return nil, fmt.Errorf("new scheduler: %w", err)
		}
	}
	kcfg := cfg.Configuration
	if kcfg == nil && cfg.ConfigFile != "" {
		var err error
		if kcfg, err = LoadConfigFile(cfg.ConfigFile); err != nil {
			return nil, err
		}
	}
	if kcfg == nil {
		kcfg = &configv1.KubeSchedulerConfiguration{}
	}
	s := &Scheduler{
		cfg:    cfg,
		client: client,
		// As upstream's, the scheduler's informers keep no managedFields.
		informers:      informers.NewSharedInformerFactoryWithOptions(client, 0, informers.WithTransform(cachetrim.ManagedFields)),
		log:            cfg.Logger,
		cache:          schedcache.New(),
		snapshot:       schedcache.NewSnapshot(),
		profiles:       map[string]*framework.Framework{},
		recorders:      map[string]record.EventRecorder{},
		leaseNamespace: "kube-system",
		leaseName:      "kube-scheduler",
		leading:        make(chan struct{}),
	}
	s.applyLeaderElection(kcfg)
	if s.cfg.Parallelism == 0 && kcfg.Parallelism != nil {
		s.cfg.Parallelism = int(*kcfg.Parallelism)
	}
	if s.cfg.MaxConcurrentBindings <= 0 {
		s.cfg.MaxConcurrentBindings = 64
	}
	s.bindSem = make(chan struct{}, s.cfg.MaxConcurrentBindings)
	var pct int32
	if kcfg.PercentageOfNodesToScore != nil {
		pct = *kcfg.PercentageOfNodesToScore
	}
	s.algo = &algorithm{percentageOfNodesToScore: pct, rnd: rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64()))}

	s.broadcaster = record.NewBroadcaster()
	profiles, err := Profiles(kcfg)
	if err != nil {
		return nil, err
	}
	registry := NewInTreeRegistry()
	var less func(a, b *framework.QueuedPodInfo) bool
	for _, p := range profiles {
		rec := s.broadcaster.NewRecorder(scheme.Scheme, v1.EventSource{Component: p.SchedulerName})
		fwk, err := framework.NewFramework(registry, p, framework.Options{
			Client:      client,
			Informers:   s.informers,
			Recorder:    rec,
			Parallelism: s.cfg.Parallelism,
			Snapshot:    func() framework.SharedLister { return s.snapshot },
		})
		if err != nil {
			return nil, fmt.Errorf("new scheduler: %w", err)
		}
		s.profiles[p.SchedulerName] = fwk
		s.recorders[p.SchedulerName] = rec
		if less == nil {
			less = fwk.QueueSortLess
		}
	}
	qcfg := queue.Config{Less: less}
	if kcfg.PodInitialBackoffSeconds != nil {
		qcfg.InitialBackoff = time.Duration(*kcfg.PodInitialBackoffSeconds) * time.Second
	}
	if kcfg.PodMaxBackoffSeconds != nil {
		qcfg.MaxBackoff = time.Duration(*kcfg.PodMaxBackoffSeconds) * time.Second
	}
	s.queue = queue.New(qcfg)
	s.podLister = s.informers.Core().V1().Pods().Lister()
	s.priorityLister = s.informers.Scheduling().V1().PriorityClasses().Lister()
	if err := s.addEventHandlers(); err != nil {
		return nil, fmt.Errorf("new scheduler: %w", err)
	}
	return s, nil
}

func (s *Scheduler) applyLeaderElection(kcfg *configv1.KubeSchedulerConfiguration) {
	le := kcfg.LeaderElection
	if le.LeaderElect != nil && !*le.LeaderElect {
		s.cfg.DisableLeaderElection = true
	}
	if le.ResourceName != "" {
		s.leaseName = le.ResourceName
	}
	if le.ResourceNamespace != "" {
		s.leaseNamespace = le.ResourceNamespace
	}
	pick := func(cur *time.Duration, fromCfg, def time.Duration) {
		if *cur == 0 {
			*cur = fromCfg
		}
		if *cur == 0 {
			*cur = def
		}
	}
	pick(&s.cfg.LeaseDuration, le.LeaseDuration.Duration, 15*time.Second)
	pick(&s.cfg.RenewDeadline, le.RenewDeadline.Duration, 10*time.Second)
	pick(&s.cfg.RetryPeriod, le.RetryPeriod.Duration, 2*time.Second)
	if s.cfg.Identity == "" {
		host, _ := os.Hostname()
		s.cfg.Identity = host + "_" + string(uuid.NewUUID())
	}
}

// Leading is closed once this instance holds the Lease and schedules.
func (s *Scheduler) Leading() <-chan struct{} { return s.leading }

// Run syncs the informers, takes the Lease and schedules until ctx ends.
// Losing the Lease stops scheduling and returns an error, as upstream's
// scheduler exits.
func (s *Scheduler) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	s.broadcaster.StartRecordingToSink(&typedcorev1.EventSinkImpl{Interface: s.client.CoreV1().Events("")})
	defer s.broadcaster.Shutdown()
	s.informers.Start(ctx.Done())
	// The informers stop only once ctx is cancelled: cancel first (a lost
	// Lease returns with the caller's ctx still live), then wait for them.
	defer func() { cancel(); s.informers.Shutdown() }()
	for typ, ok := range s.informers.WaitForCacheSync(ctx.Done()) {
		if !ok {
			cancel()
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("run scheduler: informer for %v did not sync", typ)
		}
	}
	if s.cfg.DisableLeaderElection {
		s.runLeading(ctx)
		return nil
	}
	lock := &resourcelock.LeaseLock{
		LeaseMeta:  metav1ObjectMeta(s.leaseNamespace, s.leaseName),
		Client:     s.client.CoordinationV1(),
		LockConfig: resourcelock.ResourceLockConfig{Identity: s.cfg.Identity},
	}
	var loop sync.WaitGroup
	le, err := leaderelection.NewLeaderElector(leaderelection.LeaderElectionConfig{
		Lock:            lock,
		LeaseDuration:   s.cfg.LeaseDuration,
		RenewDeadline:   s.cfg.RenewDeadline,
		RetryPeriod:     s.cfg.RetryPeriod,
		ReleaseOnCancel: true,
		Name:            s.leaseName,
		Callbacks: leaderelection.LeaderCallbacks{
			OnStartedLeading: func(lctx context.Context) {
				loop.Add(1)
				defer loop.Done()
				s.log.Info("scheduler leading", "identity", s.cfg.Identity)
				s.runLeading(lctx)
			},
			OnStoppedLeading: func() {},
		},
	})
	if err != nil {
		return fmt.Errorf("run scheduler: %w", err)
	}
	le.Run(ctx)
	loop.Wait()
	if ctx.Err() == nil {
		return errors.New("run scheduler: lost the kube-scheduler lease")
	}
	return nil
}

// runLeading is the scheduling loop proper.
func (s *Scheduler) runLeading(ctx context.Context) {
	s.leadingOnce.Do(func() { close(s.leading) })
	var wg sync.WaitGroup
	wg.Go(func() { s.queue.Run(ctx) })
	for {
		qpi, cycle, err := s.queue.Pop(ctx)
		if err != nil {
			break
		}
		s.scheduleOne(ctx, qpi, cycle)
	}
	s.bindWG.Wait()
	wg.Wait()
}

// responsible reports whether a pending pod is ours to schedule.
func (s *Scheduler) responsible(pod *v1.Pod) bool {
	_, ok := s.profiles[pod.Spec.SchedulerName]
	return ok
}

// withPriority fills spec.priority from the PriorityClass (or the global
// default class) when the API server left it empty.
func (s *Scheduler) withPriority(pod *v1.Pod) *v1.Pod {
	if pod.Spec.Priority != nil {
		return pod
	}
	var prio *int32
	var policy *v1.PreemptionPolicy
	if pod.Spec.PriorityClassName != "" {
		if pc, err := s.priorityLister.Get(pod.Spec.PriorityClassName); err == nil {
			prio, policy = &pc.Value, pc.PreemptionPolicy
		}
	} else if pcs, err := s.priorityLister.List(labels.Everything()); err == nil {
		for _, pc := range pcs {
			if pc.GlobalDefault {
				prio, policy = &pc.Value, pc.PreemptionPolicy
				break
			}
		}
	}
	if prio == nil {
		return pod
	}
	pod = pod.DeepCopy()
	pod.Spec.Priority = prio
	if pod.Spec.PreemptionPolicy == nil {
		pod.Spec.PreemptionPolicy = policy
	}
	return pod
}

// scheduleOne runs one attempt for one pod: pure placement on the
// snapshot, then assume and bind asynchronously.
func (s *Scheduler) scheduleOne(ctx context.Context, qpi *framework.QueuedPodInfo, cycle int64) {
	pod := qpi.Pod
	fwk, ok := s.profiles[pod.Spec.SchedulerName]
	if !ok || s.skip(pod) {
		s.queue.Done(pod.UID)
		return
	}
	s.cache.UpdateSnapshot(s.snapshot)
	state := framework.NewCycleState()
	state.Nominated = s.queue.NominatedSnapshot()
	state.Write(framework.PodInfoKey, qpi.PodInfo)
	res, err := s.algo.schedulePod(ctx, fwk, state, pod, s.snapshot)
	if err != nil {
		var fitErr *FitError
		nominated := ""
		if errors.As(err, &fitErr) && fwk.HasPostFilterPlugins() {
			r, st := fwk.RunPostFilterPlugins(ctx, state, pod, fitErr.Diagnosis.NodeToStatus)
			if st.Code() == framework.Error {
				s.log.Error("preemption failed", "pod", key(pod), "err", st.AsError())
			} else if !st.IsSuccess() {
				fitErr.Diagnosis.PostFilterMsg = st.Message()
			}
			if r != nil && r.NominatedNodeName != "" {
				nominated = r.NominatedNodeName
				s.queue.Nominate(pod, nominated)
			}
		}
		s.failed(ctx, fwk, qpi, cycle, err, nominated)
		return
	}
	assumed := pod.DeepCopy()
	assumed.Spec.NodeName = res.SuggestedHost
	if err := s.cache.AssumePod(assumed); err != nil {
		s.failed(ctx, fwk, qpi, cycle, err, "")
		return
	}
	if fwk.HasReservePlugins() {
		if st := fwk.RunReservePluginsReserve(ctx, state, assumed, res.SuggestedHost); !st.IsSuccess() {
			fwk.RunReservePluginsUnreserve(ctx, state, assumed, res.SuggestedHost)
			s.cache.ForgetPod(assumed)
			err := st.AsError()
			if st.IsRejected() {
				// As upstream: a rejection at Reserve reads as a fit error on
				// the one node that was picked.
				err = &FitError{Pod: pod, NumAllNodes: 1, Diagnosis: Diagnosis{
					NodeToStatus:         framework.NodeToStatus{res.SuggestedHost: st},
					UnschedulablePlugins: map[string]bool{st.Plugin(): true},
				}}
			}
			s.failed(ctx, fwk, qpi, cycle, err, "")
			return
		}
	}
	s.queue.Done(pod.UID)
	s.queue.ForgetNomination(pod.UID)
	s.bindWG.Add(1)
	select {
	case s.bindSem <- struct{}{}:
	case <-ctx.Done():
		s.bindWG.Done()
		fwk.RunReservePluginsUnreserve(ctx, state, assumed, assumed.Spec.NodeName)
		s.cache.ForgetPod(assumed)
		return
	}
	go func() {
		defer s.bindWG.Done()
		s.bind(ctx, fwk, state, qpi, assumed)
	}()
}

func (s *Scheduler) skip(pod *v1.Pod) bool {
	if pod.DeletionTimestamp != nil {
		return true
	}
	// Already assumed: an older copy of a pod being bound.
	return s.cache.IsAssumed(pod.UID)
}

// bind is the binding cycle: PreBind (which may wait, e.g. for volumes to
// be bound), then Bind. It runs holding a bindSem slot, except while
// PreBind waits: a pod waiting minutes for its volumes must not hold back
// the bindings of others.
func (s *Scheduler) bind(ctx context.Context, fwk *framework.Framework, state *framework.CycleState, qpi *framework.QueuedPodInfo, assumed *v1.Pod) {
	node := assumed.Spec.NodeName
	held := true
	defer func() {
		if held {
			<-s.bindSem
		}
	}()
	var st *framework.Status
	failMsg := "Binding rejected: %v"
	if fwk.HasPreBindPlugins() {
		<-s.bindSem
		held = false
		st = fwk.RunPreBindPlugins(ctx, state, assumed, node)
		if !st.IsSuccess() {
			failMsg = fmt.Sprintf("running PreBind plugin %q: ", st.Plugin()) + "%v"
		} else {
			select {
			case s.bindSem <- struct{}{}:
				held = true
			case <-ctx.Done():
				st = framework.AsStatus(ctx.Err())
			}
		}
	}
	if st.IsSuccess() {
		st = fwk.RunBindPlugins(ctx, state, assumed, node)
		if st.IsSuccess() {
			s.cache.FinishBinding(assumed)
			s.recorders[fwk.ProfileName()].Eventf(assumed, v1.EventTypeNormal, "Scheduled",
				"Successfully assigned %s/%s to %s", assumed.Namespace, assumed.Name, node)
			return
		}
	}
	fwk.RunReservePluginsUnreserve(ctx, state, assumed, node)
	s.cache.ForgetPod(assumed)
	err := st.AsError()
	if apierrors.IsNotFound(err) || ctx.Err() != nil {
		return
	}
	s.log.Info("binding failed", "pod", key(assumed), "node", node, "err", err)
	// The pod may have been deleted or bound by someone else meanwhile.
	cur, gerr := s.podLister.Pods(assumed.Namespace).Get(assumed.Name)
	if gerr != nil || cur.UID != assumed.UID || cur.Spec.NodeName != "" {
		return
	}
	s.queue.Requeue(s.withPriority(cur), qpi)
	s.recorders[fwk.ProfileName()].Eventf(cur, v1.EventTypeWarning, "FailedScheduling", failMsg, err)
}

// failed records a failed attempt: requeue, PodScheduled=False and a
// FailedScheduling event.
func (s *Scheduler) failed(ctx context.Context, fwk *framework.Framework, qpi *framework.QueuedPodInfo, cycle int64, err error, nominated string) {
	pod := qpi.Pod
	var fitErr *FitError
	isFit := errors.As(err, &fitErr)
	if isFit {
		qpi.UnschedulablePlugins = fitErr.Diagnosis.UnschedulablePlugins
	} else {
		s.log.Error("scheduling attempt failed", "pod", key(pod), "err", err)
	}
	s.queue.AddUnschedulable(qpi, cycle, !isFit)
	msg := err.Error()
	reason := v1.PodReasonUnschedulable
	if !isFit {
		reason = v1.PodReasonSchedulerError
	}
	s.recorders[fwk.ProfileName()].Event(pod, v1.EventTypeWarning, "FailedScheduling", msg)
	s.bindWG.Add(1)
	go func() {
		defer s.bindWG.Done()
		select {
		case s.bindSem <- struct{}{}:
			defer func() { <-s.bindSem }()
		case <-ctx.Done():
			return
		}
		if err := s.updatePodScheduled(ctx, pod, reason, msg, nominated); err != nil && ctx.Err() == nil {
			s.log.Info("update pod condition failed", "pod", key(pod), "err", err)
		}
	}()
}

func key(pod *v1.Pod) string { return pod.Namespace + "/" + pod.Name }

// Informers returns the shared informer factory (for tests and for
// plugins' listers).
func (s *Scheduler) Informers() informers.SharedInformerFactory { return s.informers }
