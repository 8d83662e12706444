package daemonset

import (
	"context"
	"fmt"
	"log/slog"
	"sort"
	"strconv"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
	utilrand "k8s.io/apimachinery/pkg/util/rand"
	"k8s.io/client-go/kubernetes"
	appslisters "k8s.io/client-go/listers/apps/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/events"
	"k8s.io/utils/clock"

	"skiff/internal/controller"
	"skiff/internal/controller/reconcile"
)

// TemplateGenerationLabel carries the DaemonSet generation a pod was
// created from, as upstream.
const TemplateGenerationLabel = "pod-template-generation"

var kind = appsv1.SchemeGroupVersion.WithKind("DaemonSet")

// Controller reconciles DaemonSets.
type Controller struct {
	client kubernetes.Interface
	dss    appslisters.DaemonSetLister
	pods   corelisters.PodLister
	nodes  corelisters.NodeLister
	revs   appslisters.ControllerRevisionLister
	events events.EventRecorder
	clock  clock.PassiveClock
	expect *reconcile.Expectations
	loop   *reconcile.Loop
	logger *slog.Logger
}

var _ controller.Controller = (*Controller)(nil)

// New is the controller.Constructor for the DaemonSet controller.
func New(cc controller.Context) (controller.Controller, error) {
	dsInf := cc.Informers.Apps().V1().DaemonSets()
	podInf := cc.Informers.Core().V1().Pods()
	nodeInf := cc.Informers.Core().V1().Nodes()
	revInf := cc.Informers.Apps().V1().ControllerRevisions()
	c := &Controller{
		client: cc.Client, dss: dsInf.Lister(), pods: podInf.Lister(), nodes: nodeInf.Lister(),
		revs: revInf.Lister(), events: cc.Events, clock: cc.Clock, expect: reconcile.NewExpectations(cc.Clock),
		logger: cc.Logger,
	}
	c.loop = reconcile.NewLoop("daemonset", cc.Clock, cc.Logger, c.sync)
	if _, err := dsInf.Informer().AddEventHandler(reconcile.Handler(c.loop.Enqueue)); err != nil {
		return nil, fmt.Errorf("daemonset: add handler: %w", err)
	}
	if _, err := nodeInf.Informer().AddEventHandler(reconcile.Handler(func(any) { c.enqueueAll() })); err != nil {
		return nil, fmt.Errorf("daemonset: add handler: %w", err)
	}
	if _, err := podInf.Informer().AddEventHandler(c.loop.OwnedPodHandler(kind.Kind, c.expect)); err != nil {
		return nil, fmt.Errorf("daemonset: add handler: %w", err)
	}
	c.loop.WaitFor(dsInf.Informer().HasSynced, podInf.Informer().HasSynced, nodeInf.Informer().HasSynced, revInf.Informer().HasSynced)
	return c, nil
}

// Run runs workers until ctx is done.
func (c *Controller) Run(ctx context.Context, workers int) error { return c.loop.Run(ctx, workers) }

func (c *Controller) enqueueAll() {
	all, _ := c.dss.List(labels.Everything())
	for _, ds := range all {
		c.loop.Enqueue(ds)
	}
}

func (c *Controller) sync(ctx context.Context, key string) (reconcile.Result, error) {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return reconcile.Result{}, nil
	}
	ds, err := c.dss.DaemonSets(ns).Get(name)
	if apierrors.IsNotFound(err) {
		c.expect.Forget(key)
		return reconcile.Result{}, nil
	}
	if err != nil {
		return reconcile.Result{}, err
	}
	if ds.DeletionTimestamp != nil {
		return reconcile.Result{}, nil
	}
	ds = ds.DeepCopy()
	sel, err := metav1.LabelSelectorAsSelector(ds.Spec.Selector)
	if err != nil {
		return reconcile.Result{}, nil
	}
	all, err := c.pods.Pods(ns).List(sel)
	if err != nil {
		return reconcile.Result{}, err
	}
	byNode := map[string][]*corev1.Pod{}
	for _, p := range all {
		if ref := metav1.GetControllerOf(p); ref != nil && ref.UID == ds.UID {
			n := nodeOf(p)
			byNode[n] = append(byNode[n], p)
		}
	}
	nodes, err := c.nodes.List(labels.Everything())
	if err != nil {
		return reconcile.Result{}, err
	}
	hash, err := c.ensureRevision(ctx, ds)
	if err != nil {
		return reconcile.Result{}, err
	}
	p := decide(ds, nodes, byNode, hash, c.clock)
	var actErr error
	if c.expect.Satisfied(key) {
		actErr = c.apply(ctx, key, ds, p, hash)
	}
	if err := c.updateStatus(ctx, ds, p.status); err != nil {
		return reconcile.Result{}, err
	}
	return reconcile.Result{}, actErr
}

// ensureRevision records the template as a ControllerRevision and returns
// its hash, the value of the pods' controller-revision-hash label.
func (c *Controller) ensureRevision(ctx context.Context, ds *appsv1.DaemonSet) (string, error) {
	sel, _ := metav1.LabelSelectorAsSelector(ds.Spec.Selector)
	list, err := c.revs.ControllerRevisions(ds.Namespace).List(sel)
	if err != nil {
		return "", err
	}
	var maxRev int64
	var owned []*appsv1.ControllerRevision
	for _, r := range list {
		if ref := metav1.GetControllerOf(r); ref != nil && ref.UID == ds.UID {
			owned = append(owned, r)
			maxRev = max(maxRev, r.Revision)
		}
	}
	reconcile.SortRevisions(owned)
	for _, r := range owned {
		if reconcile.EqualRevision(r, &ds.Spec.Template) {
			if r.Revision < maxRev {
				r = r.DeepCopy()
				r.Revision = maxRev + 1
				_, _ = c.client.AppsV1().ControllerRevisions(ds.Namespace).Update(ctx, r, metav1.UpdateOptions{})
			}
			return r.Labels[appsv1.ControllerRevisionHashLabelKey], nil
		}
	}
	r, err := reconcile.NewRevision(ds, reconcile.ControllerRef(ds, kind.GroupVersion().String(), kind.Kind),
		ds.Spec.Selector.MatchLabels, &ds.Spec.Template, maxRev+1, ds.Status.CollisionCount)
	if err != nil {
		return "", err
	}
	if _, err := c.client.AppsV1().ControllerRevisions(ds.Namespace).Create(ctx, r, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return "", fmt.Errorf("create revision for %s/%s: %w", ds.Namespace, ds.Name, err)
	}
	// Old revisions beyond the history limit go.
	limit := 10
	if ds.Spec.RevisionHistoryLimit != nil {
		limit = int(*ds.Spec.RevisionHistoryLimit)
	}
	for i := 0; i < len(owned)-limit; i++ {
		_ = c.client.AppsV1().ControllerRevisions(ds.Namespace).Delete(ctx, owned[i].Name, metav1.DeleteOptions{})
	}
	return r.Labels[appsv1.ControllerRevisionHashLabelKey], nil
}

// plan is the outcome of decide: what to create and delete, and status.
type plan struct {
	create []string // node names
	delete []*corev1.Pod
	status appsv1.DaemonSetStatus
}

// podTemplate is the pod every node gets, before its node affinity.
func podTemplate(ds *appsv1.DaemonSet, hash string) *corev1.Pod {
	t := ds.Spec.Template.DeepCopy()
	p := &corev1.Pod{ObjectMeta: t.ObjectMeta, Spec: t.Spec}
	if p.Labels == nil {
		p.Labels = map[string]string{}
	}
	p.Labels[appsv1.ControllerRevisionHashLabelKey] = hash
	p.Labels[TemplateGenerationLabel] = strconv.FormatInt(ds.Generation, 10)
	addDaemonTolerations(&p.Spec)
	return p
}

func scaled(v *intstr.IntOrString, total int, def int) int {
	if v == nil {
		return def
	}
	n, err := intstr.GetScaledValueFromIntOrPercent(v, total, true)
	if err != nil {
		return def
	}
	return n
}

// decide is the pure core: given the set, nodes and pods by node, it
// returns the pods to create and delete and the status.
func decide(ds *appsv1.DaemonSet, nodes []*corev1.Node, byNode map[string][]*corev1.Pod, hash string, clk clock.PassiveClock) plan {
	var out plan
	tmpl := podTemplate(ds, hash)
	now := clk.Now()
	st := appsv1.DaemonSetStatus{ObservedGeneration: ds.Generation, CollisionCount: ds.Status.CollisionCount, Conditions: ds.Status.Conditions}
	rolling := ds.Spec.UpdateStrategy.Type != appsv1.OnDeleteDaemonSetStrategyType
	var desired int
	var maxSurge, maxUnavailable int
	for _, n := range nodes {
		probe := tmpl.DeepCopy()
		withNodeAffinity(&probe.Spec, n.Name)
		if place(probe, n).shouldRun {
			desired++
		}
	}
	if ru := ds.Spec.UpdateStrategy.RollingUpdate; ru != nil {
		maxSurge = scaled(ru.MaxSurge, desired, 0)
		maxUnavailable = scaled(ru.MaxUnavailable, desired, 1)
	} else {
		maxUnavailable = 1
	}
	if maxSurge == 0 && maxUnavailable == 0 {
		maxUnavailable = 1
	}
	known := map[string]bool{}
	type oldOnNode struct {
		node     string
		old, new *corev1.Pod
	}
	var candidates []oldOnNode
	unavailable := 0
	surging := 0
	for _, n := range nodes {
		known[n.Name] = true
		probe := tmpl.DeepCopy()
		withNodeAffinity(&probe.Spec, n.Name)
		pl := place(probe, n)
		var live []*corev1.Pod
		for _, p := range byNode[n.Name] {
			if p.Status.Phase == corev1.PodFailed && p.DeletionTimestamp == nil {
				out.delete = append(out.delete, p) // recreated on the next sync
				continue
			}
			if p.DeletionTimestamp == nil && p.Status.Phase != corev1.PodSucceeded {
				live = append(live, p)
			}
		}
		sort.Slice(live, func(i, j int) bool { return live[i].CreationTimestamp.Before(&live[j].CreationTimestamp) })
		if !pl.shouldContinueRunning || (!pl.shouldRun && len(live) == 0) {
			if len(live) > 0 {
				st.NumberMisscheduled++
			}
			out.delete = append(out.delete, live...)
			continue
		}
		if !pl.shouldRun {
			st.NumberMisscheduled++
			continue // tolerated running pods stay, not counted as desired
		}
		if len(live) == 0 {
			if len(byNode[n.Name]) == 0 || !hasTerminating(byNode[n.Name]) {
				out.create = append(out.create, n.Name)
			}
			unavailable++
			continue
		}
		st.CurrentNumberScheduled++
		var oldPod, newPod *corev1.Pod
		for _, p := range live {
			if p.Labels[appsv1.ControllerRevisionHashLabelKey] == hash {
				if newPod == nil {
					newPod = p
				} else {
					out.delete = append(out.delete, p)
				}
			} else if oldPod == nil {
				oldPod = p
			} else {
				out.delete = append(out.delete, p)
			}
		}
		shown := newPod
		if shown == nil {
			shown = oldPod
		}
		if newPod != nil {
			st.UpdatedNumberScheduled++
		}
		if reconcile.IsPodReady(shown) {
			st.NumberReady++
		}
		avail := reconcile.IsPodAvailable(shown, ds.Spec.MinReadySeconds, now)
		if avail {
			st.NumberAvailable++
		} else {
			unavailable++
		}
		if newPod != nil && oldPod != nil {
			surging++
			if reconcile.IsPodAvailable(newPod, ds.Spec.MinReadySeconds, now) {
				out.delete = append(out.delete, oldPod) // surge finished on this node
			}
		} else if oldPod != nil && rolling {
			candidates = append(candidates, oldOnNode{node: n.Name, old: oldPod})
		}
	}
	// Pods on nodes that are gone are orphaned; delete them.
	for n, ps := range byNode {
		if !known[n] {
			for _, p := range ps {
				if p.DeletionTimestamp == nil {
					out.delete = append(out.delete, p)
				}
			}
		}
	}
	// Rolling update: unavailable old pods go first, they cost nothing.
	for _, cand := range candidates {
		if !reconcile.IsPodAvailable(cand.old, ds.Spec.MinReadySeconds, now) {
			if maxSurge > 0 {
				out.create = append(out.create, cand.node)
			} else {
				out.delete = append(out.delete, cand.old)
			}
		}
	}
	for _, cand := range candidates {
		if !reconcile.IsPodAvailable(cand.old, ds.Spec.MinReadySeconds, now) {
			continue
		}
		if maxSurge > 0 {
			if surging < maxSurge {
				out.create = append(out.create, cand.node)
				surging++
			}
		} else if unavailable < maxUnavailable {
			out.delete = append(out.delete, cand.old)
			unavailable++
		}
	}
	st.DesiredNumberScheduled = int32(desired)
	st.NumberUnavailable = max(0, int32(desired)-st.NumberAvailable)
	out.status = st
	return out
}

func hasTerminating(ps []*corev1.Pod) bool {
	for _, p := range ps {
		if p.DeletionTimestamp != nil {
			return true
		}
	}
	return false
}

func (c *Controller) apply(ctx context.Context, key string, ds *appsv1.DaemonSet, p plan, hash string) error {
	tmpl := podTemplate(ds, hash)
	ref := reconcile.ControllerRef(ds, kind.GroupVersion().String(), kind.Kind)
	_, createErr := reconcile.SlowStart(len(p.create), func(i int) error {
		pod := tmpl.DeepCopy()
		pod.Name = ds.Name + "-" + utilrand.String(5)
		pod.GenerateName = ds.Name + "-"
		pod.Namespace = ds.Namespace
		pod.OwnerReferences = []metav1.OwnerReference{ref}
		withNodeAffinity(&pod.Spec, p.create[i])
		c.expect.ExpectCreate(key, pod.Name)
		if _, err := c.client.CoreV1().Pods(ds.Namespace).Create(ctx, pod, metav1.CreateOptions{}); err != nil {
			c.expect.CreationObserved(key, pod.Name)
			c.events.Eventf(ds, nil, corev1.EventTypeWarning, "FailedCreate", "Create", "Error creating: %v", err)
			return fmt.Errorf("create daemon pod on %s: %w", p.create[i], err)
		}
		c.events.Eventf(ds, nil, corev1.EventTypeNormal, "SuccessfulCreate", "Create", "Created pod: %s", pod.Name)
		return nil
	})
	seen := map[string]bool{}
	var delErr error
	for _, pod := range p.delete {
		if seen[pod.Name] {
			continue
		}
		seen[pod.Name] = true
		c.expect.ExpectDelete(key, pod.Name)
		err := c.client.CoreV1().Pods(ds.Namespace).Delete(ctx, pod.Name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &pod.UID}})
		if err != nil && !apierrors.IsNotFound(err) {
			c.expect.DeletionObserved(key, pod.Name)
			delErr = fmt.Errorf("delete daemon pod %s: %w", pod.Name, err)
			continue
		}
		c.events.Eventf(ds, nil, corev1.EventTypeNormal, "SuccessfulDelete", "Delete", "Deleted pod: %s", pod.Name)
	}
	if createErr != nil {
		return createErr
	}
	return delErr
}

func (c *Controller) updateStatus(ctx context.Context, ds *appsv1.DaemonSet, st appsv1.DaemonSetStatus) error {
	if equality.Semantic.DeepEqual(st, ds.Status) {
		return nil
	}
	ds.Status = st
	_, err := c.client.AppsV1().DaemonSets(ds.Namespace).UpdateStatus(ctx, ds, metav1.UpdateOptions{})
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("update status of daemonset %s/%s: %w", ds.Namespace, ds.Name, err)
	}
	return nil
}
