package disruption

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"time"

	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"
	appslisters "k8s.io/client-go/listers/apps/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	policylisters "k8s.io/client-go/listers/policy/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/utils/clock"

	"skiff/internal/controller"
	"skiff/internal/controller/reconcile"
)

// Condition reasons, as upstream.
const (
	ReasonSufficientPods   = "SufficientPods"
	ReasonInsufficientPods = "InsufficientPods"
	ReasonSyncFailed       = "SyncFailed"
)

// disruptedPodTimeout is how long an eviction recorded in
// status.disruptedPods counts before the pod must be gone.
const disruptedPodTimeout = 2 * time.Minute

// errNoController reports a pod whose controller's scale is unknown.
var errNoController = errors.New("found no controllers for pod")

// Controller maintains PodDisruptionBudget status.
type Controller struct {
	client  kubernetes.Interface
	pdbs    policylisters.PodDisruptionBudgetLister
	pods    corelisters.PodLister
	rss     appslisters.ReplicaSetLister
	deploys appslisters.DeploymentLister
	sets    appslisters.StatefulSetLister
	rcs     corelisters.ReplicationControllerLister
	clock   clock.PassiveClock
	loop    *reconcile.Loop
	logger  *slog.Logger
}

var _ controller.Controller = (*Controller)(nil)

// New is the controller.Constructor for the disruption controller.
func New(cc controller.Context) (controller.Controller, error) {
	i := cc.Informers
	pdbInf, podInf := i.Policy().V1().PodDisruptionBudgets(), i.Core().V1().Pods()
	rsInf, dInf, ssInf, rcInf := i.Apps().V1().ReplicaSets(), i.Apps().V1().Deployments(), i.Apps().V1().StatefulSets(), i.Core().V1().ReplicationControllers()
	c := &Controller{client: cc.Client, pdbs: pdbInf.Lister(), pods: podInf.Lister(), rss: rsInf.Lister(),
		deploys: dInf.Lister(), sets: ssInf.Lister(), rcs: rcInf.Lister(), clock: cc.Clock, logger: cc.Logger}
	c.loop = reconcile.NewLoop("disruption", cc.Clock, cc.Logger, c.sync)
	if _, err := pdbInf.Informer().AddEventHandler(reconcile.Handler(c.loop.Enqueue)); err != nil {
		return nil, fmt.Errorf("disruption: add handler: %w", err)
	}
	if _, err := podInf.Informer().AddEventHandler(reconcile.Handler(c.podEvent)); err != nil {
		return nil, fmt.Errorf("disruption: add handler: %w", err)
	}
	// Scale changes move expectedPods; requeue the namespace's budgets.
	for _, inf := range []cache.SharedIndexInformer{rsInf.Informer(), dInf.Informer(), ssInf.Informer(), rcInf.Informer()} {
		if _, err := inf.AddEventHandler(reconcile.Handler(c.namespaceEvent)); err != nil {
			return nil, fmt.Errorf("disruption: add handler: %w", err)
		}
	}
	c.loop.WaitFor(pdbInf.Informer().HasSynced, podInf.Informer().HasSynced, rsInf.Informer().HasSynced,
		dInf.Informer().HasSynced, ssInf.Informer().HasSynced, rcInf.Informer().HasSynced)
	return c, nil
}

// Run runs workers until ctx is done.
func (c *Controller) Run(ctx context.Context, workers int) error { return c.loop.Run(ctx, workers) }

func (c *Controller) podEvent(o any) {
	p, ok := o.(*corev1.Pod)
	if !ok {
		return
	}
	pdbs, _ := c.pdbs.PodDisruptionBudgets(p.Namespace).List(labels.Everything())
	for _, pdb := range pdbs {
		if sel, err := metav1.LabelSelectorAsSelector(pdb.Spec.Selector); err == nil && !sel.Empty() && sel.Matches(labels.Set(p.Labels)) {
			c.loop.Enqueue(pdb)
		}
	}
}

func (c *Controller) namespaceEvent(o any) {
	m, ok := o.(metav1.Object)
	if !ok {
		return
	}
	pdbs, _ := c.pdbs.PodDisruptionBudgets(m.GetNamespace()).List(labels.Everything())
	for _, pdb := range pdbs {
		c.loop.Enqueue(pdb)
	}
}

func (c *Controller) sync(ctx context.Context, key string) (reconcile.Result, error) {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return reconcile.Result{}, nil
	}
	pdb, err := c.pdbs.PodDisruptionBudgets(ns).Get(name)
	if apierrors.IsNotFound(err) {
		return reconcile.Result{}, nil
	}
	if err != nil {
		return reconcile.Result{}, err
	}
	pdb = pdb.DeepCopy()
	var pods []*corev1.Pod
	if sel, err := metav1.LabelSelectorAsSelector(pdb.Spec.Selector); err == nil && !sel.Empty() {
		if pods, err = c.pods.Pods(ns).List(sel); err != nil {
			return reconcile.Result{}, err
		}
	}
	now := c.clock.Now()
	st, next, calcErr := computeStatus(pdb, pods, c.scaleOf, now)
	var res reconcile.Result // look again when a disrupted pod entry expires
	if !next.IsZero() {
		res.RequeueAfter = next.Sub(now)
	}
	if equality.Semantic.DeepEqual(st, pdb.Status) {
		return res, nil
	}
	pdb.Status = st
	if _, err := c.client.PolicyV1().PodDisruptionBudgets(ns).UpdateStatus(ctx, pdb, metav1.UpdateOptions{}); err != nil && !apierrors.IsNotFound(err) {
		return res, fmt.Errorf("update status of pdb %s/%s: %w", ns, name, err)
	}
	if calcErr != nil && !errors.Is(calcErr, errNoController) {
		return res, calcErr
	}
	return res, nil
}

// scaleOf returns the replicas of the controller a pod's controllerRef
// names, and that controller's UID so that siblings count once.
func (c *Controller) scaleOf(ns string, ref *metav1.OwnerReference) (types.UID, int32, error) {
	switch ref.Kind {
	case "ReplicaSet":
		rs, err := c.rss.ReplicaSets(ns).Get(ref.Name)
		if err != nil || rs.UID != ref.UID {
			return "", 0, errNoController
		}
		if dref := metav1.GetControllerOf(rs); dref != nil && dref.Kind == "Deployment" {
			d, err := c.deploys.Deployments(ns).Get(dref.Name)
			if err == nil && d.UID == dref.UID {
				return d.UID, ptrOr(d.Spec.Replicas, 1), nil
			}
		}
		return rs.UID, ptrOr(rs.Spec.Replicas, 1), nil
	case "StatefulSet":
		s, err := c.sets.StatefulSets(ns).Get(ref.Name)
		if err != nil || s.UID != ref.UID {
			return "", 0, errNoController
		}
		return s.UID, ptrOr(s.Spec.Replicas, 1), nil
	case "ReplicationController":
		rc, err := c.rcs.ReplicationControllers(ns).Get(ref.Name)
		if err != nil || rc.UID != ref.UID {
			return "", 0, errNoController
		}
		return rc.UID, ptrOr(rc.Spec.Replicas, 1), nil
	}
	return "", 0, errNoController
}

func ptrOr(p *int32, def int32) int32 {
	if p == nil {
		return def
	}
	return *p
}

type scaleFunc func(ns string, ref *metav1.OwnerReference) (types.UID, int32, error)

// computeStatus is the pure core. It returns the status, when an entry of
// disruptedPods expires (to requeue), and a calculation error (recorded as
// SyncFailed).
func computeStatus(pdb *policyv1.PodDisruptionBudget, pods []*corev1.Pod, scale scaleFunc, now time.Time) (policyv1.PodDisruptionBudgetStatus, time.Time, error) {
	st := policyv1.PodDisruptionBudgetStatus{ObservedGeneration: pdb.Generation, Conditions: pdb.Status.Conditions}
	var next time.Time
	disrupted := map[string]metav1.Time{}
	present := map[string]*corev1.Pod{}
	for _, p := range pods {
		present[p.Name] = p
	}
	for name, t := range pdb.Status.DisruptedPods {
		p, ok := present[name]
		expires := t.Add(disruptedPodTimeout)
		if !ok || p.DeletionTimestamp != nil || !now.Before(expires) {
			continue
		}
		disrupted[name] = t
		if next.IsZero() || expires.Before(next) {
			next = expires
		}
	}
	if len(disrupted) > 0 {
		st.DisruptedPods = disrupted
	}
	for _, p := range pods {
		if _, gone := disrupted[p.Name]; gone || p.DeletionTimestamp != nil {
			continue
		}
		if reconcile.IsPodReady(p) {
			st.CurrentHealthy++
		}
	}
	expected, desired, err := expectations(pdb, pods, scale)
	if err != nil {
		st.ExpectedPods, st.DesiredHealthy, st.DisruptionsAllowed = expected, desired, 0
		setCondition(&st, metav1.ConditionFalse, ReasonSyncFailed, err.Error(), now, pdb.Generation)
		return st, next, err
	}
	st.ExpectedPods, st.DesiredHealthy = expected, desired
	st.DisruptionsAllowed = max(0, st.CurrentHealthy-desired)
	if st.DisruptionsAllowed > 0 {
		setCondition(&st, metav1.ConditionTrue, ReasonSufficientPods, "", now, pdb.Generation)
	} else {
		setCondition(&st, metav1.ConditionFalse, ReasonInsufficientPods, "", now, pdb.Generation)
	}
	return st, next, nil
}

func expectations(pdb *policyv1.PodDisruptionBudget, pods []*corev1.Pod, scale scaleFunc) (expected, desired int32, err error) {
	if m := pdb.Spec.MinAvailable; m != nil && m.Type == intstr.Int {
		return int32(len(pods)), m.IntVal, nil
	}
	if pdb.Spec.MinAvailable == nil && pdb.Spec.MaxUnavailable == nil {
		return int32(len(pods)), 0, nil
	}
	seen := map[types.UID]bool{}
	for _, p := range pods {
		ref := metav1.GetControllerOf(p)
		if ref == nil {
			return 0, 0, fmt.Errorf("%w %s/%s", errNoController, p.Namespace, p.Name)
		}
		uid, n, err := scale(p.Namespace, ref)
		if err != nil {
			return 0, 0, fmt.Errorf("%w %s/%s", err, p.Namespace, p.Name)
		}
		if !seen[uid] {
			seen[uid] = true
			expected += n
		}
	}
	if m := pdb.Spec.MaxUnavailable; m != nil {
		v, err := intstr.GetScaledValueFromIntOrPercent(m, int(expected), true)
		if err != nil {
			return expected, 0, fmt.Errorf("parse maxUnavailable: %w", err)
		}
		return expected, max(0, expected-int32(v)), nil
	}
	v, err := intstr.GetScaledValueFromIntOrPercent(pdb.Spec.MinAvailable, int(expected), true)
	if err != nil {
		return expected, 0, fmt.Errorf("parse minAvailable: %w", err)
	}
	return expected, int32(math.Min(float64(v), math.MaxInt32)), nil
}

func setCondition(st *policyv1.PodDisruptionBudgetStatus, s metav1.ConditionStatus, reason, msg string, now time.Time, gen int64) {
	c := metav1.Condition{Type: policyv1.DisruptionAllowedCondition, Status: s, Reason: reason, Message: msg,
		ObservedGeneration: gen, LastTransitionTime: metav1.NewTime(now)}
	for i, old := range st.Conditions {
		if old.Type != c.Type {
			continue
		}
		if old.Status == s {
			c.LastTransitionTime = old.LastTransitionTime
		}
		conds := append([]metav1.Condition(nil), st.Conditions...)
		conds[i] = c
		st.Conditions = conds
		return
	}
	st.Conditions = append(append([]metav1.Condition(nil), st.Conditions...), c)
}
