package podgc

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/utils/clock"

	"skiff/internal/controller"
	"skiff/internal/controller/reconcile"
)

// Config tunes the collector; zero values take upstream's defaults.
type Config struct {
	// TerminatedPodThreshold is how many terminated pods may exist before
	// the oldest are deleted (12500); negative disables that part.
	TerminatedPodThreshold int
	// Period is how often the collector runs without events (20 s).
	Period time.Duration
}

func (c *Config) setDefaults() {
	if c.TerminatedPodThreshold == 0 {
		c.TerminatedPodThreshold = 12500
	}
	if c.Period == 0 {
		c.Period = 20 * time.Second
	}
}

func (c *Config) validate() error {
	if c.Period < 0 {
		return errors.New("pod gc: period must not be negative")
	}
	return nil
}

const gcKey = "gc"

// Controller is the pod garbage collector.
type Controller struct {
	cfg    Config
	client kubernetes.Interface
	pods   corelisters.PodLister
	nodes  corelisters.NodeLister
	clock  clock.PassiveClock
	loop   *reconcile.Loop
	logger *slog.Logger
}

var _ controller.Controller = (*Controller)(nil)

// New is the controller.Constructor with the default configuration.
func New(cc controller.Context) (controller.Controller, error) { return NewWithConfig(Config{})(cc) }

// NewWithConfig returns a controller.Constructor for cfg.
func NewWithConfig(cfg Config) controller.Constructor {
	return func(cc controller.Context) (controller.Controller, error) {
		cfg.setDefaults()
		if err := cfg.validate(); err != nil {
			return nil, err
		}
		podInf := cc.Informers.Core().V1().Pods()
		nodeInf := cc.Informers.Core().V1().Nodes()
		c := &Controller{cfg: cfg, client: cc.Client, pods: podInf.Lister(), nodes: nodeInf.Lister(),
			clock: cc.Clock, logger: cc.Logger}
		c.loop = reconcile.NewLoop("podgc", cc.Clock, cc.Logger, c.sync)
		// A run reads every pod: only the changes that give it work
		// bring it forward, and those of one second share a run.
		kick := func() { c.loop.AddAfter(gcKey, kickDelay) }
		podKick := func(obj any) {
			if pod, ok := obj.(*corev1.Pod); ok && c.collectable(pod) {
				kick()
			}
		}
		if _, err := podInf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
			AddFunc: podKick, UpdateFunc: func(_, obj any) { podKick(obj) },
		}); err != nil {
			return nil, fmt.Errorf("pod gc: add handler: %w", err)
		}
		if _, err := nodeInf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
			DeleteFunc: func(any) { kick() },
		}); err != nil {
			return nil, fmt.Errorf("pod gc: add handler: %w", err)
		}
		c.loop.WaitFor(podInf.Informer().HasSynced, nodeInf.Informer().HasSynced)
		return c, nil
	}
}

// kickDelay is how long after a change that gives it work the collector
// runs; the changes in between share the run.
const kickDelay = time.Second

// collectable: pod is one the collector may have to remove (or count, for
// the terminated threshold).
func (c *Controller) collectable(pod *corev1.Pod) bool {
	switch {
	case pod.Spec.NodeName == "":
		return pod.DeletionTimestamp != nil
	case reconcile.IsPodTerminal(pod):
		return c.cfg.TerminatedPodThreshold >= 0
	default:
		_, err := c.nodes.Get(pod.Spec.NodeName)
		return err != nil
	}
}

// Run runs the collector until ctx is done.
func (c *Controller) Run(ctx context.Context, _ int) error {
	c.loop.Add(gcKey)
	return c.loop.Run(ctx, 1) // one item: more workers would idle
}

// plan is what one run deletes; the pure part of the collector.
type plan struct {
	terminated  []*corev1.Pod // oldest beyond the threshold
	orphanCheck []*corev1.Pod // bound to a node missing from the cache
	unscheduled []*corev1.Pod // terminating and never bound
}

func decide(pods []*corev1.Pod, nodeExists func(string) bool, threshold int) plan {
	var p plan
	var terminated []*corev1.Pod
	for _, pod := range pods {
		switch {
		case pod.Spec.NodeName != "" && !nodeExists(pod.Spec.NodeName):
			p.orphanCheck = append(p.orphanCheck, pod)
		case pod.Spec.NodeName == "" && pod.DeletionTimestamp != nil:
			p.unscheduled = append(p.unscheduled, pod)
		case reconcile.IsPodTerminal(pod):
			terminated = append(terminated, pod)
		}
	}
	if threshold >= 0 && len(terminated) > threshold {
		sort.Slice(terminated, func(i, j int) bool {
			return terminated[i].CreationTimestamp.Before(&terminated[j].CreationTimestamp)
		})
		p.terminated = terminated[:len(terminated)-threshold]
	}
	return p
}

func (c *Controller) sync(ctx context.Context, _ string) (reconcile.Result, error) {
	// The collector runs every Period, failed or not.
	res := reconcile.Result{RequeueAfter: c.cfg.Period}
	pods, err := c.pods.List(labels.Everything())
	if err != nil {
		return res, err
	}
	p := decide(pods, func(n string) bool { _, err := c.nodes.Get(n); return err == nil }, c.cfg.TerminatedPodThreshold)
	var first error
	keep := func(err error) {
		if err != nil && first == nil {
			first = err
		}
	}
	for _, pod := range p.terminated {
		keep(c.remove(ctx, pod, false, "PodGC: deleting terminated pod over the threshold"))
	}
	gone := map[string]bool{}
	for _, pod := range p.orphanCheck {
		n := pod.Spec.NodeName
		if _, seen := gone[n]; !seen {
			_, err := c.client.CoreV1().Nodes().Get(ctx, n, metav1.GetOptions{})
			if err != nil && !apierrors.IsNotFound(err) {
				keep(fmt.Errorf("get node %s: %w", n, err))
				continue
			}
			gone[n] = apierrors.IsNotFound(err)
		}
		if gone[n] {
			keep(c.remove(ctx, pod, true, "PodGC: node no longer exists"))
		}
	}
	for _, pod := range p.unscheduled {
		keep(c.remove(ctx, pod, false, ""))
	}
	return res, first
}

// remove force-deletes a pod; with markFailed it first records why, as
// upstream does for pods of vanished nodes.
func (c *Controller) remove(ctx context.Context, pod *corev1.Pod, markFailed bool, msg string) error {
	if markFailed && !reconcile.IsPodTerminal(pod) {
		q := pod.DeepCopy()
		q.Status.Phase = corev1.PodFailed
		q.Status.Conditions = append(q.Status.Conditions, corev1.PodCondition{Type: corev1.DisruptionTarget,
			Status: corev1.ConditionTrue, Reason: "DeletionByPodGC", Message: msg, LastTransitionTime: metav1.NewTime(c.clock.Now())})
		_, _ = c.client.CoreV1().Pods(pod.Namespace).UpdateStatus(ctx, q, metav1.UpdateOptions{}) // best effort
	}
	zero := int64(0)
	err := c.client.CoreV1().Pods(pod.Namespace).Delete(ctx, pod.Name, metav1.DeleteOptions{
		GracePeriodSeconds: &zero, Preconditions: &metav1.Preconditions{UID: &pod.UID}})
	if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
		return fmt.Errorf("delete pod %s/%s: %w", pod.Namespace, pod.Name, err)
	}
	return nil
}
