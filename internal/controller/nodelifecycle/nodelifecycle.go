package nodelifecycle

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	coordv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	coordlisters "k8s.io/client-go/listers/coordination/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/events"
	"k8s.io/utils/clock"

	"skiff/internal/controller"
	"skiff/internal/controller/reconcile"
)

// LeaseNamespace holds the nodes' heartbeat Leases.
const LeaseNamespace = "kube-node-lease"

const podNodeIndex = "spec.nodeName"

// Config tunes the controller; zero values take upstream's defaults.
type Config struct {
	// GracePeriod is how long a node may go without a heartbeat before
	// it is considered Unknown (40 s).
	GracePeriod time.Duration
}

func (c *Config) setDefaults() {
	if c.GracePeriod == 0 {
		c.GracePeriod = 40 * time.Second
	}
}

func (c *Config) validate() error {
	if c.GracePeriod < 0 {
		return errors.New("node lifecycle: grace period must not be negative")
	}
	return nil
}

// health is what the controller last saw of a node's heartbeat, timed on
// its own clock.
type health struct {
	renew, heartbeat time.Time // the values seen in the Lease and condition
	probe            time.Time // when either last changed, our clock
}

// Controller marks silent nodes Unknown, taints nodes by condition and
// evicts pods from NoExecute-tainted nodes.
type Controller struct {
	cfg    Config
	client kubernetes.Interface
	nodes  corelisters.NodeLister
	leases coordlisters.LeaseLister
	pods   cache.Indexer
	events events.EventRecorder
	clock  clock.PassiveClock
	loop   *reconcile.Loop
	logger *slog.Logger

	mu     sync.Mutex
	health map[string]*health
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
		nodeInf := cc.Informers.Core().V1().Nodes()
		leaseInf := cc.Informers.Coordination().V1().Leases()
		podInf := cc.Informers.Core().V1().Pods()
		if err := podInf.Informer().AddIndexers(cache.Indexers{podNodeIndex: func(o any) ([]string, error) {
			p, ok := o.(*corev1.Pod)
			if !ok || p.Spec.NodeName == "" {
				return nil, nil
			}
			return []string{p.Spec.NodeName}, nil
		}}); err != nil {
			return nil, fmt.Errorf("node lifecycle: add pod index: %w", err)
		}
		c := &Controller{cfg: cfg, client: cc.Client, nodes: nodeInf.Lister(), leases: leaseInf.Lister(),
			pods: podInf.Informer().GetIndexer(), events: cc.Events, clock: cc.Clock, logger: cc.Logger,
			health: map[string]*health{}}
		c.loop = reconcile.NewLoop("nodelifecycle", cc.Clock, cc.Logger, c.sync)
		if _, err := nodeInf.Informer().AddEventHandler(reconcile.Handler(c.loop.Enqueue)); err != nil {
			return nil, fmt.Errorf("node lifecycle: add handler: %w", err)
		}
		if _, err := leaseInf.Informer().AddEventHandler(reconcile.Handler(func(o any) {
			if l, ok := o.(*coordv1.Lease); ok && l.Namespace == LeaseNamespace {
				c.loop.Add(l.Name)
			}
		})); err != nil {
			return nil, fmt.Errorf("node lifecycle: add handler: %w", err)
		}
		if _, err := podInf.Informer().AddEventHandler(reconcile.Handler(func(o any) {
			if p, ok := o.(*corev1.Pod); ok && p.Spec.NodeName != "" {
				c.loop.Add(p.Spec.NodeName)
			}
		})); err != nil {
			return nil, fmt.Errorf("node lifecycle: add handler: %w", err)
		}
		c.loop.WaitFor(nodeInf.Informer().HasSynced, leaseInf.Informer().HasSynced, podInf.Informer().HasSynced)
		return c, nil
	}
}

// Run runs workers until ctx is done.
func (c *Controller) Run(ctx context.Context, workers int) error { return c.loop.Run(ctx, workers) }

func (c *Controller) sync(ctx context.Context, name string) (reconcile.Result, error) {
	node, err := c.nodes.Get(name)
	if apierrors.IsNotFound(err) {
		c.mu.Lock()
		delete(c.health, name)
		c.mu.Unlock()
		return reconcile.Result{}, nil
	}
	if err != nil {
		return reconcile.Result{}, err
	}
	node = node.DeepCopy()
	now := c.clock.Now()
	beatDue, err := c.checkHeartbeat(ctx, node, now)
	if err != nil {
		return reconcile.Result{}, err
	}
	res := reconcile.Result{RequeueAfter: beatDue}
	if err := c.reconcileTaints(ctx, node, now); err != nil {
		return res, err
	}
	evictDue, err := c.evict(ctx, node, now)
	if evictDue > 0 && (res.RequeueAfter == 0 || evictDue < res.RequeueAfter) {
		res.RequeueAfter = evictDue
	}
	return res, err
}

// checkHeartbeat marks the node Unknown once it has been silent for the
// grace period, and otherwise returns how long until it would be.
func (c *Controller) checkHeartbeat(ctx context.Context, node *corev1.Node, now time.Time) (time.Duration, error) {
	var renew, beat time.Time
	if l, err := c.leases.Leases(LeaseNamespace).Get(node.Name); err == nil && l.Spec.RenewTime != nil {
		renew = l.Spec.RenewTime.Time
	}
	ready := -1
	for i, cond := range node.Status.Conditions {
		if cond.Type == corev1.NodeReady {
			ready = i
			beat = cond.LastHeartbeatTime.Time
		}
	}
	c.mu.Lock()
	h, ok := c.health[node.Name]
	if !ok || !h.renew.Equal(renew) || !h.heartbeat.Equal(beat) {
		h = &health{renew: renew, heartbeat: beat, probe: now}
		c.health[node.Name] = h
	}
	probe := h.probe
	c.mu.Unlock()
	deadline := probe.Add(c.cfg.GracePeriod)
	if now.Before(deadline) {
		return deadline.Sub(now) + time.Millisecond, nil
	}
	if ready >= 0 && node.Status.Conditions[ready].Status == corev1.ConditionUnknown {
		return 0, nil
	}
	reason, msg := "NodeStatusUnknown", "Kubelet stopped posting node status."
	if ready < 0 {
		reason, msg = "NodeStatusNeverUpdated", "Kubelet never posted node status."
	}
	for _, t := range []corev1.NodeConditionType{corev1.NodeReady, corev1.NodeMemoryPressure, corev1.NodeDiskPressure, corev1.NodePIDPressure} {
		found := false
		for i := range node.Status.Conditions {
			cond := &node.Status.Conditions[i]
			if cond.Type != t {
				continue
			}
			found = true
			if cond.Status != corev1.ConditionUnknown {
				cond.Status, cond.Reason, cond.Message = corev1.ConditionUnknown, reason, msg
				cond.LastTransitionTime = metav1.NewTime(now)
			}
		}
		if !found {
			node.Status.Conditions = append(node.Status.Conditions, corev1.NodeCondition{Type: t, Status: corev1.ConditionUnknown,
				Reason: reason, Message: msg, LastHeartbeatTime: metav1.NewTime(node.CreationTimestamp.Time),
				LastTransitionTime: metav1.NewTime(now)})
		}
	}
	updated, err := c.client.CoreV1().Nodes().UpdateStatus(ctx, node, metav1.UpdateOptions{})
	if err != nil {
		return 0, fmt.Errorf("mark node %s unknown: %w", node.Name, err)
	}
	*node = *updated
	c.events.Eventf(node, nil, corev1.EventTypeNormal, "NodeNotReady", "NodeNotReady", "Node %s status is now: NodeNotReady", node.Name)
	return 0, c.markPodsNotReady(ctx, node.Name)
}

// markPodsNotReady sets Ready=False on the pods of an unreachable node,
// so Services stop sending them traffic.
func (c *Controller) markPodsNotReady(ctx context.Context, node string) error {
	objs, err := c.pods.ByIndex(podNodeIndex, node)
	if err != nil {
		return err
	}
	for _, o := range objs {
		p := o.(*corev1.Pod).DeepCopy()
		changed := false
		for i := range p.Status.Conditions {
			cond := &p.Status.Conditions[i]
			if cond.Type == corev1.PodReady && cond.Status != corev1.ConditionFalse {
				cond.Status, cond.LastTransitionTime = corev1.ConditionFalse, metav1.NewTime(c.clock.Now())
				changed = true
			}
		}
		if !changed {
			continue
		}
		if _, err := c.client.CoreV1().Pods(p.Namespace).UpdateStatus(ctx, p, metav1.UpdateOptions{}); err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("mark pod %s/%s not ready: %w", p.Namespace, p.Name, err)
		}
	}
	return nil
}

func (c *Controller) reconcileTaints(ctx context.Context, node *corev1.Node, now time.Time) error {
	want := desiredTaints(node, now)
	if equality.Semantic.DeepEqual(want, node.Spec.Taints) || len(want) == 0 && len(node.Spec.Taints) == 0 {
		return nil
	}
	node.Spec.Taints = want
	updated, err := c.client.CoreV1().Nodes().Update(ctx, node, metav1.UpdateOptions{})
	if err != nil {
		return fmt.Errorf("update taints of node %s: %w", node.Name, err)
	}
	*node = *updated
	return nil
}

// evict deletes the pods that no longer tolerate the node's NoExecute
// taints and returns how long until the next one will stop (0 for none).
func (c *Controller) evict(ctx context.Context, node *corev1.Node, now time.Time) (time.Duration, error) {
	objs, err := c.pods.ByIndex(podNodeIndex, node.Name)
	if err != nil {
		return 0, err
	}
	var next time.Time
	var first error
	for _, o := range objs {
		p := o.(*corev1.Pod)
		if p.DeletionTimestamp != nil || reconcile.IsPodTerminal(p) {
			continue
		}
		at, ok := evictionTime(p, node.Spec.Taints, now)
		if !ok {
			continue
		}
		if at.After(now) {
			if next.IsZero() || at.Before(next) {
				next = at
			}
			continue
		}
		if err := c.evictPod(ctx, p, now); err != nil && first == nil {
			first = err
		}
	}
	if next.IsZero() {
		return 0, first
	}
	return next.Sub(now), first
}

func (c *Controller) evictPod(ctx context.Context, p *corev1.Pod, now time.Time) error {
	q := p.DeepCopy()
	q.Status.Conditions = append(q.Status.Conditions, corev1.PodCondition{Type: corev1.DisruptionTarget,
		Status: corev1.ConditionTrue, Reason: "DeletionByTaintManager",
		Message: "Taint manager: deleting due to NoExecute taint", LastTransitionTime: metav1.NewTime(now)})
	// Best effort: the condition explains the deletion but must not block it.
	_, _ = c.client.CoreV1().Pods(p.Namespace).UpdateStatus(ctx, q, metav1.UpdateOptions{})
	err := c.client.CoreV1().Pods(p.Namespace).Delete(ctx, p.Name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &p.UID}})
	if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
		return fmt.Errorf("evict pod %s/%s: %w", p.Namespace, p.Name, err)
	}
	c.events.Eventf(p, nil, corev1.EventTypeNormal, "TaintManagerEviction", "Delete", "Marking for deletion Pod %s/%s", p.Namespace, p.Name)
	return nil
}
