package deployment

import (
	"context"
	"errors"
	"fmt"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/events"
	"k8s.io/utils/clock"

	"skiff/internal/controller"
	"skiff/internal/controller/reconcile"
)

// Controller rolls out Deployments.
type Controller struct {
	client kubernetes.Interface
	deps   cache.SharedIndexInformer
	rss    cache.SharedIndexInformer
	pods   cache.SharedIndexInformer
	events events.EventRecorder
	clock  clock.PassiveClock
	loop   *reconcile.Loop
}

var _ controller.Controller = (*Controller)(nil)

// New is the Constructor of the Deployment controller.
func New(cc controller.Context) (controller.Controller, error) {
	c := &Controller{
		client: cc.Client,
		deps:   cc.Informers.Apps().V1().Deployments().Informer(),
		rss:    cc.Informers.Apps().V1().ReplicaSets().Informer(),
		pods:   cc.Informers.Core().V1().Pods().Informer(),
		events: cc.Events,
		clock:  cc.Clock,
	}
	c.loop = reconcile.NewLoop("deployment", cc.Clock, cc.Logger, c.sync)
	c.loop.WaitFor(c.deps.HasSynced, c.rss.HasSynced, c.pods.HasSynced)
	enqueue := func(obj any) {
		if key := reconcile.KeyOf(obj); key != "" {
			c.loop.Add(key)
		}
	}
	if _, err := c.deps.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: enqueue, UpdateFunc: func(_, o any) { enqueue(o) }, DeleteFunc: enqueue,
	}); err != nil {
		return nil, fmt.Errorf("new deployment controller: %w", err)
	}
	if _, err := c.rss.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: c.rsChanged,
		UpdateFunc: func(o, n any) {
			c.rsChanged(n)
			oldRef, newRef := metav1.GetControllerOfNoCopy(o.(*appsv1.ReplicaSet)), metav1.GetControllerOfNoCopy(n.(*appsv1.ReplicaSet))
			if oldRef != nil && (newRef == nil || oldRef.UID != newRef.UID) {
				c.rsChanged(o)
			}
		},
		DeleteFunc: c.rsChanged,
	}); err != nil {
		return nil, fmt.Errorf("new deployment controller: %w", err)
	}
	// Recreate waits for old pods to be gone; their deletion wakes it.
	if _, err := c.pods.AddEventHandler(cache.ResourceEventHandlerFuncs{
		DeleteFunc: func(obj any) {
			pod, ok := reconcile.Tombstone(obj).(*corev1.Pod)
			if !ok {
				return
			}
			ref := metav1.GetControllerOfNoCopy(pod)
			if ref == nil || ref.Kind != "ReplicaSet" {
				return
			}
			if o, ok, _ := c.rss.GetIndexer().GetByKey(pod.Namespace + "/" + ref.Name); ok {
				c.rsChanged(o)
			}
		},
	}); err != nil {
		return nil, fmt.Errorf("new deployment controller: %w", err)
	}
	return c, nil
}

// Run implements controller.Controller.
func (c *Controller) Run(ctx context.Context, workers int) error {
	return c.loop.Run(ctx, workers)
}

// rsChanged wakes the ReplicaSet's Deployment, or for an orphan every
// Deployment whose selector matches it.
func (c *Controller) rsChanged(obj any) {
	rs, ok := reconcile.Tombstone(obj).(*appsv1.ReplicaSet)
	if !ok {
		return
	}
	if ref := metav1.GetControllerOfNoCopy(rs); ref != nil {
		if ref.Kind == "Deployment" {
			c.loop.Add(rs.Namespace + "/" + ref.Name)
		}
		return
	}
	objs, _ := c.deps.GetIndexer().ByIndex(cache.NamespaceIndex, rs.Namespace)
	for _, o := range objs {
		d := o.(*appsv1.Deployment)
		if selectorOf(d).Matches(labels.Set(rs.Labels)) {
			c.loop.Add(rs.Namespace + "/" + d.Name)
		}
	}
}

func selectorOf(d *appsv1.Deployment) labels.Selector {
	sel, err := metav1.LabelSelectorAsSelector(d.Spec.Selector)
	if err != nil || d.Spec.Selector == nil {
		return labels.Nothing()
	}
	return sel
}

func (c *Controller) sync(ctx context.Context, key string) (reconcile.Result, error) {
	obj, ok, err := c.deps.GetIndexer().GetByKey(key)
	if err != nil || !ok {
		return reconcile.Result{}, err
	}
	d := obj.(*appsv1.Deployment).DeepCopy()
	if sel := selectorOf(d); sel.Empty() {
		c.events.Eventf(d, nil, corev1.EventTypeWarning, "SelectingAll", "Sync", "This deployment is selecting all pods. A non-empty selector is required.")
		if d.Status.ObservedGeneration < d.Generation {
			d.Status.ObservedGeneration = d.Generation
			_, err := c.client.AppsV1().Deployments(d.Namespace).UpdateStatus(ctx, d, metav1.UpdateOptions{})
			return reconcile.Result{}, err
		}
		return reconcile.Result{}, nil
	}
	rss, err := c.claimReplicaSets(ctx, d)
	if err != nil {
		return reconcile.Result{}, err
	}
	if d.DeletionTimestamp != nil {
		return reconcile.Result{}, c.syncStatusOnly(ctx, d, rss)
	}
	if err := c.checkPaused(ctx, d); err != nil {
		return reconcile.Result{}, err
	}
	if d.Spec.Paused {
		return reconcile.Result{}, c.syncScale(ctx, d, rss)
	}
	newRS, old := findNewAndOld(d, rss)
	if isScalingEvent(d, append(append([]*appsv1.ReplicaSet(nil), old...), nonNil(newRS)...)) {
		return reconcile.Result{}, c.syncScale(ctx, d, rss)
	}
	if isRolling(d) {
		return c.rolloutRolling(ctx, d, rss)
	}
	return c.rolloutRecreate(ctx, d, rss)
}

func nonNil(rs *appsv1.ReplicaSet) []*appsv1.ReplicaSet {
	if rs == nil {
		return nil
	}
	return []*appsv1.ReplicaSet{rs}
}

// claimReplicaSets adopts and releases ReplicaSets and returns the owned ones.
func (c *Controller) claimReplicaSets(ctx context.Context, d *appsv1.Deployment) ([]*appsv1.ReplicaSet, error) {
	objs, err := c.rss.GetIndexer().ByIndex(cache.NamespaceIndex, d.Namespace)
	if err != nil {
		return nil, err
	}
	sel := selectorOf(d)
	ref := reconcile.ControllerRef(d, "apps/v1", "Deployment")
	var (
		out  []*appsv1.ReplicaSet
		errs []error
	)
	for _, o := range objs {
		rs := o.(*appsv1.ReplicaSet)
		switch reconcile.Claim(d, sel, rs) {
		case reconcile.Keep:
			out = append(out, rs)
		case reconcile.Adopt:
			got, err := c.client.AppsV1().ReplicaSets(rs.Namespace).Patch(ctx, rs.Name, types.StrategicMergePatchType, reconcile.AdoptPatch(ref, rs.UID), metav1.PatchOptions{})
			if err != nil {
				if !apierrors.IsNotFound(err) {
					errs = append(errs, fmt.Errorf("adopt replica set %s: %w", rs.Name, err))
				}
				continue
			}
			out = append(out, got)
		case reconcile.Release:
			_, err := c.client.AppsV1().ReplicaSets(rs.Namespace).Patch(ctx, rs.Name, types.StrategicMergePatchType, reconcile.ReleasePatch(d.UID, rs.UID), metav1.PatchOptions{})
			if err != nil && !apierrors.IsNotFound(err) {
				errs = append(errs, fmt.Errorf("release replica set %s: %w", rs.Name, err))
			}
		}
	}
	return out, errors.Join(errs...)
}

// checkPaused records pause and resume in the Progressing condition, so
// that a paused rollout never times out.
func (c *Controller) checkPaused(ctx context.Context, d *appsv1.Deployment) error {
	if !hasProgressDeadline(d) {
		return nil
	}
	cond := getCondition(&d.Status, appsv1.DeploymentProgressing)
	if cond != nil && cond.Reason == reasonTimedOut {
		return nil
	}
	pausedCond := cond != nil && cond.Reason == reasonPaused
	now := c.clock.Now()
	switch {
	case d.Spec.Paused && !pausedCond:
		setCondition(&d.Status, condition(appsv1.DeploymentProgressing, corev1.ConditionUnknown, reasonPaused, "Deployment is paused", now))
	case !d.Spec.Paused && pausedCond:
		setCondition(&d.Status, condition(appsv1.DeploymentProgressing, corev1.ConditionUnknown, reasonResumed, "Deployment is resumed", now))
	default:
		return nil
	}
	got, err := c.client.AppsV1().Deployments(d.Namespace).UpdateStatus(ctx, d, metav1.UpdateOptions{})
	if err != nil {
		return fmt.Errorf("update deployment status %s/%s: %w", d.Namespace, d.Name, err)
	}
	*d = *got
	return nil
}

// newReplicaSet finds or (when create is set) creates the ReplicaSet of
// d's template, bringing its revision annotations up to date. It returns
// the new ReplicaSet (nil when absent and not created) and the old ones.
func (c *Controller) newReplicaSet(ctx context.Context, d *appsv1.Deployment, rss []*appsv1.ReplicaSet, create bool) (*appsv1.ReplicaSet, []*appsv1.ReplicaSet, error) {
	existing, old := findNewAndOld(d, rss)
	newRevision := maxRevision(old) + 1
	now := c.clock.Now()
	if existing != nil {
		rs := existing.DeepCopy()
		changed := setNewRSAnnotations(d, rs, newRevision, true)
		if rs.Spec.MinReadySeconds != d.Spec.MinReadySeconds {
			rs.Spec.MinReadySeconds = d.Spec.MinReadySeconds
			changed = true
		}
		if changed {
			got, err := c.client.AppsV1().ReplicaSets(rs.Namespace).Update(ctx, rs, metav1.UpdateOptions{})
			if err != nil {
				return nil, nil, fmt.Errorf("update replica set %s: %w", rs.Name, err)
			}
			rs = got
		}
		if err := c.setDeploymentRevision(ctx, d, rs.Annotations[revisionAnnotation]); err != nil {
			return nil, nil, err
		}
		if hasProgressDeadline(d) && getCondition(&d.Status, appsv1.DeploymentProgressing) == nil {
			setCondition(&d.Status, condition(appsv1.DeploymentProgressing, corev1.ConditionTrue, reasonFoundNewRS,
				fmt.Sprintf("Found new replica set %q", rs.Name), now))
			if err := c.updateStatus(ctx, d, d.Status); err != nil {
				return nil, nil, err
			}
		}
		return rs, old, nil
	}
	if !create {
		return nil, old, nil
	}
	hash := templateHash(&d.Spec.Template, d.Status.CollisionCount)
	tmpl := d.Spec.Template.DeepCopy()
	if tmpl.Labels == nil {
		tmpl.Labels = map[string]string{}
	}
	tmpl.Labels[hashLabel] = hash
	sel := d.Spec.Selector.DeepCopy()
	if sel.MatchLabels == nil {
		sel.MatchLabels = map[string]string{}
	}
	sel.MatchLabels[hashLabel] = hash
	rs := &appsv1.ReplicaSet{
		ObjectMeta: metav1.ObjectMeta{
			Name:            rsName(d, hash),
			Namespace:       d.Namespace,
			OwnerReferences: []metav1.OwnerReference{reconcile.ControllerRef(d, "apps/v1", "Deployment")},
			Labels:          tmpl.Labels,
		},
		Spec: appsv1.ReplicaSetSpec{
			Selector:        sel,
			MinReadySeconds: d.Spec.MinReadySeconds,
			Template:        *tmpl,
		},
	}
	all := append(append([]*appsv1.ReplicaSet(nil), old...), rs)
	n := newRSReplicas(d, all, rs)
	rs.Spec.Replicas = &n
	setNewRSAnnotations(d, rs, newRevision, false)
	got, err := c.client.AppsV1().ReplicaSets(d.Namespace).Create(ctx, rs, metav1.CreateOptions{})
	switch {
	case apierrors.IsAlreadyExists(err):
		// Someone else's ReplicaSet holds the name, or ours with a
		// template our cache has not seen yet.
		cur, gerr := c.client.AppsV1().ReplicaSets(d.Namespace).Get(ctx, rs.Name, metav1.GetOptions{})
		if gerr == nil && metav1.IsControlledBy(cur, d) && equalIgnoreHash(&cur.Spec.Template, &d.Spec.Template) {
			return cur, old, nil
		}
		var cc int32
		if d.Status.CollisionCount != nil {
			cc = *d.Status.CollisionCount
		}
		cc++
		d.Status.CollisionCount = &cc
		if err := c.updateStatus(ctx, d, d.Status); err != nil {
			return nil, nil, err
		}
		return nil, nil, fmt.Errorf("create replica set %s: name collision, retrying with a new hash", rs.Name)
	case err != nil:
		if hasProgressDeadline(d) {
			setCondition(&d.Status, condition(appsv1.DeploymentProgressing, corev1.ConditionFalse, reasonFailedRSCreate,
				fmt.Sprintf("Failed to create new replica set %q: %v", rs.Name, err), now))
			_ = c.updateStatus(ctx, d, d.Status)
		}
		c.events.Eventf(d, nil, corev1.EventTypeWarning, reasonFailedRSCreate, "Create", "Failed to create new replica set %q: %v", rs.Name, err)
		return nil, nil, fmt.Errorf("create replica set %s: %w", rs.Name, err)
	}
	if n > 0 {
		c.events.Eventf(d, nil, corev1.EventTypeNormal, "ScalingReplicaSet", "Scale", "Scaled up replica set %s from 0 to %d", got.Name, n)
	}
	if err := c.setDeploymentRevision(ctx, d, got.Annotations[revisionAnnotation]); err != nil {
		return nil, nil, err
	}
	if hasProgressDeadline(d) {
		setCondition(&d.Status, condition(appsv1.DeploymentProgressing, corev1.ConditionTrue, reasonNewRSCreated,
			fmt.Sprintf("Created new replica set %q", got.Name), now))
		if err := c.updateStatus(ctx, d, d.Status); err != nil {
			return nil, nil, err
		}
	}
	return got, old, nil
}

// setDeploymentRevision mirrors the new ReplicaSet's revision onto d.
func (c *Controller) setDeploymentRevision(ctx context.Context, d *appsv1.Deployment, rev string) error {
	if rev == "" || d.Annotations[revisionAnnotation] == rev {
		return nil
	}
	cp := d.DeepCopy()
	if cp.Annotations == nil {
		cp.Annotations = map[string]string{}
	}
	cp.Annotations[revisionAnnotation] = rev
	// Through /status, as upstream: the revision is not a change of the
	// spec, so the generation stays.
	got, err := c.client.AppsV1().Deployments(d.Namespace).UpdateStatus(ctx, cp, metav1.UpdateOptions{})
	if err != nil {
		return fmt.Errorf("update deployment revision %s/%s: %w", d.Namespace, d.Name, err)
	}
	st := d.Status
	*d = *got
	d.Status = st
	return nil
}

func (c *Controller) updateStatus(ctx context.Context, d *appsv1.Deployment, st appsv1.DeploymentStatus) error {
	cp := d.DeepCopy()
	cp.Status = st
	got, err := c.client.AppsV1().Deployments(d.Namespace).UpdateStatus(ctx, cp, metav1.UpdateOptions{})
	if err != nil {
		return fmt.Errorf("update deployment status %s/%s: %w", d.Namespace, d.Name, err)
	}
	*d = *got
	return nil
}

// scaleRS sets rs's replicas and its desired/max annotations.
func (c *Controller) scaleRS(ctx context.Context, d *appsv1.Deployment, rs *appsv1.ReplicaSet, n int32) (*appsv1.ReplicaSet, bool, error) {
	cp := rs.DeepCopy()
	annotChanged := setReplicasAnnotations(cp, replicas(d), replicas(d)+maxSurge(d))
	if rsReplicas(rs) == n && !annotChanged {
		return rs, false, nil
	}
	from := rsReplicas(rs)
	cp.Spec.Replicas = &n
	got, err := c.client.AppsV1().ReplicaSets(rs.Namespace).Update(ctx, cp, metav1.UpdateOptions{})
	if err != nil {
		return nil, false, fmt.Errorf("scale replica set %s: %w", rs.Name, err)
	}
	if from != n {
		dir := "up"
		if n < from {
			dir = "down"
		}
		c.events.Eventf(d, nil, corev1.EventTypeNormal, "ScalingReplicaSet", "Scale", "Scaled %s replica set %s from %d to %d", dir, rs.Name, from, n)
	}
	return got, from != n, nil
}

// syncScale handles a paused Deployment or a change of its size: scale
// the ReplicaSets, prune history when paused, write status.
func (c *Controller) syncScale(ctx context.Context, d *appsv1.Deployment, rss []*appsv1.ReplicaSet) error {
	newRS, old, err := c.newReplicaSet(ctx, d, rss, false)
	if err != nil {
		return err
	}
	newRS, old, err = c.scale(ctx, d, newRS, old)
	if err != nil {
		return err
	}
	if d.Spec.Paused {
		if err := c.prune(ctx, d, old); err != nil {
			return err
		}
	}
	all := append(append([]*appsv1.ReplicaSet(nil), old...), nonNil(newRS)...)
	st := calculateStatus(d, all, newRS, c.clock.Now())
	if apiequality.Semantic.DeepEqual(st, d.Status) {
		return nil
	}
	return c.updateStatus(ctx, d, st)
}

func (c *Controller) syncStatusOnly(ctx context.Context, d *appsv1.Deployment, rss []*appsv1.ReplicaSet) error {
	newRS, old := findNewAndOld(d, rss)
	all := append(append([]*appsv1.ReplicaSet(nil), old...), nonNil(newRS)...)
	st := calculateStatus(d, all, newRS, c.clock.Now())
	if apiequality.Semantic.DeepEqual(st, d.Status) {
		return nil
	}
	return c.updateStatus(ctx, d, st)
}

// scale brings the ReplicaSets to d's size: all of it to the only active
// one, none to old ones once the new one is saturated, otherwise
// proportionally.
func (c *Controller) scale(ctx context.Context, d *appsv1.Deployment, newRS *appsv1.ReplicaSet, old []*appsv1.ReplicaSet) (*appsv1.ReplicaSet, []*appsv1.ReplicaSet, error) {
	replace := func(rs, got *appsv1.ReplicaSet) {
		if newRS == rs {
			newRS = got
		}
		for i := range old {
			if old[i] == rs {
				old[i] = got
			}
		}
	}
	if target := activeOrLatest(newRS, old); target != nil {
		got, _, err := c.scaleRS(ctx, d, target, replicas(d))
		if err != nil {
			return nil, nil, err
		}
		replace(target, got)
		return newRS, old, nil
	}
	if saturated(d, newRS) {
		for _, rs := range old {
			if rsReplicas(rs) == 0 {
				continue
			}
			got, _, err := c.scaleRS(ctx, d, rs, 0)
			if err != nil {
				return nil, nil, err
			}
			replace(rs, got)
		}
		return newRS, old, nil
	}
	if !isRolling(d) {
		return newRS, old, nil
	}
	var active []*appsv1.ReplicaSet
	for _, rs := range append(append([]*appsv1.ReplicaSet(nil), old...), nonNil(newRS)...) {
		if rsReplicas(rs) > 0 {
			active = append(active, rs)
		}
	}
	sizes := proportionalSizes(d, active)
	for _, rs := range active {
		got, _, err := c.scaleRS(ctx, d, rs, sizes[rs.Name])
		if err != nil {
			return nil, nil, err
		}
		replace(rs, got)
	}
	return newRS, old, nil
}

// rolloutRolling does one step of a rolling update.
func (c *Controller) rolloutRolling(ctx context.Context, d *appsv1.Deployment, rss []*appsv1.ReplicaSet) (reconcile.Result, error) {
	newRS, old, err := c.newReplicaSet(ctx, d, rss, true)
	if err != nil {
		return reconcile.Result{}, err
	}
	all := append(append([]*appsv1.ReplicaSet(nil), old...), newRS)
	// Scale up the new ReplicaSet within maxSurge.
	var scaled bool
	switch want := replicas(d); {
	case rsReplicas(newRS) > want:
		newRS, scaled, err = c.scaleRS(ctx, d, newRS, want)
	case rsReplicas(newRS) < want:
		newRS, scaled, err = c.scaleRS(ctx, d, newRS, newRSReplicas(d, all, newRS))
	}
	if err != nil {
		return reconcile.Result{}, err
	}
	all[len(all)-1] = newRS
	if scaled {
		return c.syncRolloutStatus(ctx, d, all, newRS)
	}
	// Scale down old ones within maxUnavailable.
	plan := planOldScaleDown(d, all, old, newRS)
	for i, rs := range old {
		n, ok := plan[rs.Name]
		if !ok {
			continue
		}
		got, s, err := c.scaleRS(ctx, d, rs, n)
		if err != nil {
			return reconcile.Result{}, err
		}
		old[i], all[i] = got, got
		scaled = scaled || s
	}
	if scaled {
		return c.syncRolloutStatus(ctx, d, all, newRS)
	}
	st := calculateStatus(d, all, newRS, c.clock.Now())
	if complete(d, &st) {
		if err := c.prune(ctx, d, old); err != nil {
			return reconcile.Result{}, err
		}
	}
	return c.syncRolloutStatus(ctx, d, all, newRS)
}

// rolloutRecreate kills every old pod before the new ReplicaSet scales up.
func (c *Controller) rolloutRecreate(ctx context.Context, d *appsv1.Deployment, rss []*appsv1.ReplicaSet) (reconcile.Result, error) {
	newRS, old, err := c.newReplicaSet(ctx, d, rss, false)
	if err != nil {
		return reconcile.Result{}, err
	}
	scaled := false
	for i, rs := range old {
		if rsReplicas(rs) == 0 {
			continue
		}
		got, s, err := c.scaleRS(ctx, d, rs, 0)
		if err != nil {
			return reconcile.Result{}, err
		}
		old[i] = got
		scaled = scaled || s
	}
	all := append(append([]*appsv1.ReplicaSet(nil), old...), nonNil(newRS)...)
	if scaled || c.oldPodsRunning(d, old) {
		return c.syncRolloutStatus(ctx, d, all, newRS)
	}
	if newRS == nil {
		newRS, old, err = c.newReplicaSet(ctx, d, rss, true)
		if err != nil {
			return reconcile.Result{}, err
		}
	}
	if rsReplicas(newRS) != replicas(d) {
		if newRS, _, err = c.scaleRS(ctx, d, newRS, replicas(d)); err != nil {
			return reconcile.Result{}, err
		}
	}
	all = append(append([]*appsv1.ReplicaSet(nil), old...), newRS)
	st := calculateStatus(d, all, newRS, c.clock.Now())
	if complete(d, &st) {
		if err := c.prune(ctx, d, old); err != nil {
			return reconcile.Result{}, err
		}
	}
	return c.syncRolloutStatus(ctx, d, all, newRS)
}

// oldPodsRunning reports whether any pod of the old ReplicaSets still
// exists in a non-terminal phase.
func (c *Controller) oldPodsRunning(d *appsv1.Deployment, old []*appsv1.ReplicaSet) bool {
	if sumStatus(old, func(s *appsv1.ReplicaSetStatus) int32 { return s.Replicas }) > 0 {
		return true
	}
	uids := map[types.UID]bool{}
	for _, rs := range old {
		uids[rs.UID] = true
	}
	objs, _ := c.pods.GetIndexer().ByIndex(cache.NamespaceIndex, d.Namespace)
	for _, o := range objs {
		p := o.(*corev1.Pod)
		ref := metav1.GetControllerOfNoCopy(p)
		if ref == nil || !uids[ref.UID] {
			continue
		}
		if p.Status.Phase != corev1.PodSucceeded && p.Status.Phase != corev1.PodFailed {
			return true
		}
	}
	return false
}

// prune deletes old empty ReplicaSets beyond revisionHistoryLimit.
func (c *Controller) prune(ctx context.Context, d *appsv1.Deployment, old []*appsv1.ReplicaSet) error {
	for _, rs := range historyToPrune(d, old) {
		err := c.client.AppsV1().ReplicaSets(rs.Namespace).Delete(ctx, rs.Name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &rs.UID}})
		if err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("delete old replica set %s: %w", rs.Name, err)
		}
	}
	return nil
}

// syncRolloutStatus writes status with the Progressing condition and
// asks for a sync at the progress deadline.
func (c *Controller) syncRolloutStatus(ctx context.Context, d *appsv1.Deployment, all []*appsv1.ReplicaSet, newRS *appsv1.ReplicaSet) (reconcile.Result, error) {
	now := c.clock.Now()
	st := rolloutStatus(d, all, newRS, now)
	if !apiequality.Semantic.DeepEqual(st, d.Status) {
		prev := getCondition(d.Status.DeepCopy(), appsv1.DeploymentProgressing)
		if err := c.updateStatus(ctx, d, st); err != nil {
			return reconcile.Result{}, err
		}
		if cond := getCondition(&st, appsv1.DeploymentProgressing); cond != nil && cond.Reason == reasonTimedOut {
			if prev == nil || prev.Reason != reasonTimedOut {
				c.events.Eventf(d, nil, corev1.EventTypeWarning, reasonTimedOut, "Progress", "%s", cond.Message)
			}
		}
	}
	if after := requeueAfter(d, &st, now); after > 0 {
		return reconcile.Result{RequeueAfter: min(after, time.Duration(*d.Spec.ProgressDeadlineSeconds)*time.Second+time.Second)}, nil
	}
	return reconcile.Result{}, nil
}
