package horizontalpodautoscaler

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	autoscalingv1 "k8s.io/api/autoscaling/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	autoscalinglisters "k8s.io/client-go/listers/autoscaling/v2"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/events"
	"k8s.io/utils/clock"

	"skiff/internal/controller"
	"skiff/internal/controller/reconcile"
)

// Config tunes the autoscaler; zero values take upstream's defaults.
type Config struct {
	// Metrics reads pod usage; nil reads the metrics.k8s.io API.
	Metrics MetricsSource
	// SyncPeriod is how often each autoscaler is evaluated (15 s).
	SyncPeriod time.Duration
	// Tolerance is the ratio change below which nothing scales (0.1).
	Tolerance float64
	// CPUInitializationPeriod is how long after its start a pod's cpu
	// usage counts only once it is ready and was measured entirely
	// after it became so (5 min).
	CPUInitializationPeriod time.Duration
	// InitialReadinessDelay is how long after its start a pod that is
	// not ready is taken as never having been ready (30 s).
	InitialReadinessDelay time.Duration
}

// Controller runs HorizontalPodAutoscalers.
type Controller struct {
	cfg    Config
	client kubernetes.Interface
	hpas   autoscalinglisters.HorizontalPodAutoscalerLister
	pods   corelisters.PodLister
	events events.EventRecorder
	clock  clock.PassiveClock
	loop   *reconcile.Loop
	logger *slog.Logger

	mu     sync.Mutex
	recs   map[types.UID][]recommendation
	scales map[types.UID][]scaleEvent
}

var _ controller.Controller = (*Controller)(nil)

// New is the controller.Constructor with the default configuration.
func New(cc controller.Context) (controller.Controller, error) { return NewWithConfig(Config{})(cc) }

// NewWithConfig returns a controller.Constructor for cfg.
func NewWithConfig(cfg Config) controller.Constructor {
	return func(cc controller.Context) (controller.Controller, error) {
		if cfg.Metrics == nil {
			cfg.Metrics = apiSource{client: cc.Client}
		}
		if cfg.SyncPeriod == 0 {
			cfg.SyncPeriod = 15 * time.Second
		}
		if cfg.Tolerance == 0 {
			cfg.Tolerance = 0.1
		}
		if cfg.CPUInitializationPeriod == 0 {
			cfg.CPUInitializationPeriod = 5 * time.Minute
		}
		if cfg.InitialReadinessDelay == 0 {
			cfg.InitialReadinessDelay = 30 * time.Second
		}
		if cfg.SyncPeriod < 0 || cfg.Tolerance < 0 || cfg.CPUInitializationPeriod < 0 || cfg.InitialReadinessDelay < 0 {
			return nil, fmt.Errorf("horizontal pod autoscaler: negative sync period, tolerance, cpu initialization period or readiness delay")
		}
		hpaInf := cc.Informers.Autoscaling().V2().HorizontalPodAutoscalers()
		podInf := cc.Informers.Core().V1().Pods()
		c := &Controller{cfg: cfg, client: cc.Client, hpas: hpaInf.Lister(), pods: podInf.Lister(), events: cc.Events,
			clock: cc.Clock, logger: cc.Logger, recs: map[types.UID][]recommendation{}, scales: map[types.UID][]scaleEvent{}}
		c.loop = reconcile.NewLoop("horizontalpodautoscaling", cc.Clock, cc.Logger, c.sync)
		if _, err := hpaInf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
			AddFunc: c.loop.Enqueue,
			UpdateFunc: func(old, cur any) {
				// Status writes come back as updates; only spec changes
				// warrant an evaluation before the next period.
				if old.(*autoscalingv2.HorizontalPodAutoscaler).Generation != cur.(*autoscalingv2.HorizontalPodAutoscaler).Generation {
					c.loop.Enqueue(cur)
				}
			},
			DeleteFunc: func(obj any) {
				if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
					obj = t.Obj
				}
				if h, ok := obj.(*autoscalingv2.HorizontalPodAutoscaler); ok {
					c.forget(h.UID)
				}
			},
		}); err != nil {
			return nil, fmt.Errorf("horizontal pod autoscaler: add handler: %w", err)
		}
		c.loop.WaitFor(hpaInf.Informer().HasSynced, podInf.Informer().HasSynced)
		return c, nil
	}
}

// forget drops the recommendations and scale events of a deleted
// autoscaler.
func (c *Controller) forget(uid types.UID) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.recs, uid)
	delete(c.scales, uid)
}

// Run runs workers until ctx is done.
func (c *Controller) Run(ctx context.Context, workers int) error { return c.loop.Run(ctx, workers) }

// getScale reads the target's scale subresource.
func (c *Controller) getScale(ctx context.Context, ns string, ref autoscalingv2.CrossVersionObjectReference) (*autoscalingv1.Scale, error) {
	switch ref.Kind {
	case "Deployment":
		return c.client.AppsV1().Deployments(ns).GetScale(ctx, ref.Name, metav1.GetOptions{})
	case "ReplicaSet":
		return c.client.AppsV1().ReplicaSets(ns).GetScale(ctx, ref.Name, metav1.GetOptions{})
	case "StatefulSet":
		return c.client.AppsV1().StatefulSets(ns).GetScale(ctx, ref.Name, metav1.GetOptions{})
	case "ReplicationController":
		return c.client.CoreV1().ReplicationControllers(ns).GetScale(ctx, ref.Name, metav1.GetOptions{})
	}
	return nil, fmt.Errorf("unsupported scale target kind %q", ref.Kind)
}

func (c *Controller) updateScale(ctx context.Context, ns string, ref autoscalingv2.CrossVersionObjectReference, s *autoscalingv1.Scale) error {
	var err error
	switch ref.Kind {
	case "Deployment":
		_, err = c.client.AppsV1().Deployments(ns).UpdateScale(ctx, ref.Name, s, metav1.UpdateOptions{})
	case "ReplicaSet":
		_, err = c.client.AppsV1().ReplicaSets(ns).UpdateScale(ctx, ref.Name, s, metav1.UpdateOptions{})
	case "StatefulSet":
		_, err = c.client.AppsV1().StatefulSets(ns).UpdateScale(ctx, ref.Name, s, metav1.UpdateOptions{})
	case "ReplicationController":
		_, err = c.client.CoreV1().ReplicationControllers(ns).UpdateScale(ctx, ref.Name, s, metav1.UpdateOptions{})
	}
	return err
}

func setCondition(st *autoscalingv2.HorizontalPodAutoscalerStatus, t autoscalingv2.HorizontalPodAutoscalerConditionType, s corev1.ConditionStatus, reason, msg string, now time.Time) {
	for i := range st.Conditions {
		c := &st.Conditions[i]
		if c.Type != t {
			continue
		}
		if c.Status != s {
			c.LastTransitionTime = metav1.NewTime(now)
		}
		c.Status, c.Reason, c.Message = s, reason, msg
		return
	}
	st.Conditions = append(st.Conditions, autoscalingv2.HorizontalPodAutoscalerCondition{Type: t, Status: s,
		Reason: reason, Message: msg, LastTransitionTime: metav1.NewTime(now)})
}

func (c *Controller) sync(ctx context.Context, key string) (reconcile.Result, error) {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return reconcile.Result{}, nil
	}
	hpa, err := c.hpas.HorizontalPodAutoscalers(ns).Get(name)
	if apierrors.IsNotFound(err) {
		return reconcile.Result{}, nil
	}
	if err != nil {
		return reconcile.Result{}, err
	}
	res := reconcile.Result{RequeueAfter: c.cfg.SyncPeriod} // every period, failed or not
	hpa = hpa.DeepCopy()
	now := c.clock.Now()
	st := hpa.Status.DeepCopy()
	st.ObservedGeneration = &hpa.Generation
	write := func() error {
		if equality.Semantic.DeepEqual(*st, hpa.Status) {
			return nil
		}
		hpa.Status = *st
		_, err := c.client.AutoscalingV2().HorizontalPodAutoscalers(ns).UpdateStatus(ctx, hpa, metav1.UpdateOptions{})
		if err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("update status of hpa %s: %w", key, err)
		}
		return nil
	}

	scale, err := c.getScale(ctx, ns, hpa.Spec.ScaleTargetRef)
	if err != nil {
		setCondition(st, autoscalingv2.AbleToScale, corev1.ConditionFalse, "FailedGetScale",
			fmt.Sprintf("the HPA controller was unable to get the target's current scale: %v", err), now)
		c.events.Eventf(hpa, nil, corev1.EventTypeWarning, "FailedGetScale", "Scale", "%v", err)
		return res, write()
	}
	setCondition(st, autoscalingv2.AbleToScale, corev1.ConditionTrue, "SucceededGetScale",
		"the HPA controller was able to get the target's current scale", now)
	current := scale.Spec.Replicas
	st.CurrentReplicas = scale.Status.Replicas
	minR := int32(1)
	if hpa.Spec.MinReplicas != nil {
		minR = *hpa.Spec.MinReplicas
	}
	if current == 0 && minR != 0 {
		st.DesiredReplicas = 0
		setCondition(st, autoscalingv2.ScalingActive, corev1.ConditionFalse, "ScalingDisabled",
			"scaling is disabled since the replica count of the target is zero", now)
		return res, write()
	}
	var desired int32
	var rescaleReason string
	if current > hpa.Spec.MaxReplicas || current < minR {
		// Out of range: back into it first, whatever the metrics say.
		desired = min(max(current, minR), hpa.Spec.MaxReplicas)
		rescaleReason = "Current number of replicas below Spec.MinReplicas"
		if current > hpa.Spec.MaxReplicas {
			rescaleReason = "Current number of replicas above Spec.MaxReplicas"
		}
	} else {
		proposed, metricName, statuses, metricErr := c.computeReplicas(ctx, hpa, scale, current, now)
		if metricErr != nil {
			setCondition(st, autoscalingv2.ScalingActive, corev1.ConditionFalse, "FailedGetResourceMetric",
				fmt.Sprintf("the HPA was unable to compute the replica count: %v", metricErr), now)
			c.events.Eventf(hpa, nil, corev1.EventTypeWarning, "FailedComputeMetricsReplicas", "Scale",
				"invalid metrics, first error is: %v", metricErr)
			st.CurrentMetrics = statuses
			return res, write()
		}
		setCondition(st, autoscalingv2.ScalingActive, corev1.ConditionTrue, "ValidMetricFound",
			fmt.Sprintf("the HPA was able to successfully calculate a replica count from %s", metricName), now)
		st.CurrentMetrics = statuses

		c.mu.Lock()
		b := defaultBehavior(hpa.Spec.Behavior)
		window := max(time.Duration(*b.ScaleDown.StabilizationWindowSeconds), time.Duration(*b.ScaleUp.StabilizationWindowSeconds)) * time.Second
		recs, seen := c.recs[hpa.UID]
		if !seen {
			// A new autoscaler (or a restarted controller) starts with
			// the current count as a recommendation, so that it does
			// not scale down before a window of its own has passed.
			recs = []recommendation{{at: now, replicas: current}}
		}
		recs = prune(recs, now.Add(-window))
		events := pruneEvents(c.scales[hpa.UID], now.Add(-30*time.Minute))
		var reason, msg string
		desired, reason, msg = normalize(current, proposed, minR, hpa.Spec.MaxReplicas, b, recs, events, now)
		c.recs[hpa.UID] = append(recs, recommendation{at: now, replicas: proposed})
		c.scales[hpa.UID] = events
		c.mu.Unlock()
		limited := corev1.ConditionFalse
		if reason != "DesiredWithinRange" {
			limited = corev1.ConditionTrue
		}
		setCondition(st, autoscalingv2.ScalingLimited, limited, reason, msg, now)
		rescaleReason = "All metrics below target"
		if desired > current {
			rescaleReason = metricName + " above target"
		}
	}
	st.DesiredReplicas = desired
	if desired != current {
		s := scale.DeepCopy()
		s.Spec.Replicas = desired
		if err := c.updateScale(ctx, ns, hpa.Spec.ScaleTargetRef, s); err != nil {
			setCondition(st, autoscalingv2.AbleToScale, corev1.ConditionFalse, "FailedUpdateScale",
				fmt.Sprintf("the HPA controller was unable to update the target scale: %v", err), now)
			c.events.Eventf(hpa, nil, corev1.EventTypeWarning, "FailedRescale", "Scale", "New size: %d; error: %v", desired, err)
			return res, joinErr(write(), fmt.Errorf("rescale %s: %w", key, err))
		}
		c.mu.Lock()
		c.scales[hpa.UID] = append(c.scales[hpa.UID], scaleEvent{at: now, delta: desired - current})
		c.mu.Unlock()
		setCondition(st, autoscalingv2.AbleToScale, corev1.ConditionTrue, "SucceededRescale",
			fmt.Sprintf("the HPA controller was able to update the target scale to %d", desired), now)
		c.events.Eventf(hpa, nil, corev1.EventTypeNormal, "SuccessfulRescale", "Scale", "New size: %d; reason: %s", desired, rescaleReason)
		t := metav1.NewTime(now)
		st.LastScaleTime = &t
	}
	return res, write()
}

func joinErr(a, b error) error {
	if a != nil {
		return a
	}
	return b
}

func prune(recs []recommendation, cut time.Time) []recommendation {
	var out []recommendation
	for _, r := range recs {
		if r.at.After(cut) {
			out = append(out, r)
		}
	}
	return out
}

func pruneEvents(evs []scaleEvent, cut time.Time) []scaleEvent {
	var out []scaleEvent
	for _, e := range evs {
		if e.at.After(cut) {
			out = append(out, e)
		}
	}
	return out
}

// computeReplicas evaluates every metric and returns the largest count.
func (c *Controller) computeReplicas(ctx context.Context, hpa *autoscalingv2.HorizontalPodAutoscaler, scale *autoscalingv1.Scale, current int32, now time.Time) (int32, string, []autoscalingv2.MetricStatus, error) {
	sel, err := labels.Parse(scale.Status.Selector)
	if err != nil || scale.Status.Selector == "" {
		return 0, "", nil, fmt.Errorf("parse target selector %q: invalid or empty", scale.Status.Selector)
	}
	pods, err := c.pods.Pods(hpa.Namespace).List(sel)
	if err != nil {
		return 0, "", nil, err
	}
	usage, err := c.cfg.Metrics.PodUsage(ctx, hpa.Namespace, sel)
	if err != nil {
		return 0, "", nil, err
	}
	metrics := hpa.Spec.Metrics
	if len(metrics) == 0 {
		// autoscaling/v2 defaults to 80% CPU utilization.
		eighty := int32(80)
		metrics = []autoscalingv2.MetricSpec{{Type: autoscalingv2.ResourceMetricSourceType, Resource: &autoscalingv2.ResourceMetricSource{
			Name: corev1.ResourceCPU, Target: autoscalingv2.MetricTarget{Type: autoscalingv2.UtilizationMetricType, AverageUtilization: &eighty}}}}
	}
	var best int32 = -1
	var bestName string
	var statuses []autoscalingv2.MetricStatus
	var firstErr error
	for _, m := range metrics {
		if m.Type != autoscalingv2.ResourceMetricSourceType || m.Resource == nil {
			if firstErr == nil {
				firstErr = fmt.Errorf("metric source type %q is not supported", m.Type)
			}
			continue
		}
		var infos []podInfo
		var err error
		for _, p := range pods {
			if p.DeletionTimestamp != nil || p.Status.Phase == corev1.PodFailed || p.Status.Phase == corev1.PodSucceeded {
				continue
			}
			u, ok := usage[p.Name]
			var q resource.Quantity
			if ok {
				q, ok = u.Usage[m.Resource.Name]
			}
			info := podInfo{state: classify(p, m.Resource.Name, u, ok, now, c.cfg.CPUInitializationPeriod, c.cfg.InitialReadinessDelay), usage: q.MilliValue()}
			if m.Resource.Target.Type == autoscalingv2.UtilizationMetricType {
				// Utilization is relative to every container's request.
				if info.request, err = requestOf(p, m.Resource.Name); err != nil {
					break
				}
			}
			infos = append(infos, info)
		}
		var n, util int32
		var avg int64
		if err == nil {
			n, util, avg, err = resourceReplicas(current, infos, m.Resource.Target, tolerancesOf(hpa.Spec.Behavior, c.cfg.Tolerance))
		}
		if err != nil {
			if firstErr == nil {
				firstErr = err
			}
			continue
		}
		cur := autoscalingv2.MetricValueStatus{AverageValue: resource.NewMilliQuantity(avg, resource.DecimalSI)}
		if m.Resource.Target.Type == autoscalingv2.UtilizationMetricType {
			cur.AverageUtilization = &util
		}
		statuses = append(statuses, autoscalingv2.MetricStatus{Type: autoscalingv2.ResourceMetricSourceType,
			Resource: &autoscalingv2.ResourceMetricStatus{Name: m.Resource.Name, Current: cur}})
		if n > best {
			best = n
			bestName = fmt.Sprintf("%s resource", m.Resource.Name)
			if m.Resource.Target.Type == autoscalingv2.UtilizationMetricType {
				bestName += " utilization (percentage of request)"
			}
		}
	}
	if best < 0 {
		if firstErr == nil {
			firstErr = fmt.Errorf("no metrics")
		}
		return 0, "", statuses, firstErr
	}
	return best, bestName, statuses, nil
}
