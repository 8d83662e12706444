package statefulset

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	appslisters "k8s.io/client-go/listers/apps/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/events"
	"k8s.io/utils/clock"

	"skiff/internal/controller"
	"skiff/internal/controller/reconcile"
)

// Labels the controller puts on every pod, as upstream.
const (
	PodNameLabel  = appsv1.StatefulSetPodNameLabel
	PodIndexLabel = appsv1.PodIndexLabel
)

var kind = appsv1.SchemeGroupVersion.WithKind("StatefulSet")

// Controller reconciles StatefulSets.
type Controller struct {
	client kubernetes.Interface
	sets   appslisters.StatefulSetLister
	pods   corelisters.PodLister
	revs   appslisters.ControllerRevisionLister
	pvcs   corelisters.PersistentVolumeClaimLister
	events events.EventRecorder
	clock  clock.PassiveClock
	expect *reconcile.Expectations
	loop   *reconcile.Loop
	logger *slog.Logger
}

var _ controller.Controller = (*Controller)(nil)

// New is the controller.Constructor for the StatefulSet controller.
func New(cc controller.Context) (controller.Controller, error) {
	setInf := cc.Informers.Apps().V1().StatefulSets()
	podInf := cc.Informers.Core().V1().Pods()
	revInf := cc.Informers.Apps().V1().ControllerRevisions()
	pvcInf := cc.Informers.Core().V1().PersistentVolumeClaims()
	c := &Controller{
		client: cc.Client, sets: setInf.Lister(), pods: podInf.Lister(), revs: revInf.Lister(),
		pvcs: pvcInf.Lister(), events: cc.Events, clock: cc.Clock, expect: reconcile.NewExpectations(cc.Clock),
		logger: cc.Logger,
	}
	c.loop = reconcile.NewLoop("statefulset", cc.Clock, cc.Logger, c.sync)
	if _, err := setInf.Informer().AddEventHandler(reconcile.Handler(c.loop.Enqueue)); err != nil {
		return nil, fmt.Errorf("statefulset: add handler: %w", err)
	}
	if _, err := podInf.Informer().AddEventHandler(c.loop.OwnedPodHandler(kind.Kind, c.expect)); err != nil {
		return nil, fmt.Errorf("statefulset: add handler: %w", err)
	}
	c.loop.WaitFor(setInf.Informer().HasSynced, podInf.Informer().HasSynced, revInf.Informer().HasSynced, pvcInf.Informer().HasSynced)
	return c, nil
}

// Run runs workers until ctx is done.
func (c *Controller) Run(ctx context.Context, workers int) error { return c.loop.Run(ctx, workers) }

func (c *Controller) sync(ctx context.Context, key string) (reconcile.Result, error) {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return reconcile.Result{}, nil
	}
	set, err := c.sets.StatefulSets(ns).Get(name)
	if apierrors.IsNotFound(err) {
		c.expect.Forget(key)
		return reconcile.Result{}, nil
	}
	if err != nil {
		return reconcile.Result{}, err
	}
	if set.DeletionTimestamp != nil {
		return reconcile.Result{}, nil
	}
	set = set.DeepCopy()
	sel, err := metav1.LabelSelectorAsSelector(set.Spec.Selector)
	if err != nil {
		return reconcile.Result{}, nil // invalid selector: validation should have refused it
	}
	all, err := c.pods.Pods(ns).List(sel)
	if err != nil {
		return reconcile.Result{}, err
	}
	var pods []*corev1.Pod
	for _, p := range all {
		ref := metav1.GetControllerOf(p)
		if ref == nil && p.DeletionTimestamp == nil && ordinal(set, p) >= 0 {
			// An orphan with one of our names: adopt it, as upstream does,
			// or its name would block the ordinal forever.
			if adopted, err := c.adopt(ctx, set, p); err == nil {
				p, ref = adopted, metav1.GetControllerOf(adopted)
			}
		}
		if ref != nil && ref.UID == set.UID {
			pods = append(pods, p)
		}
	}
	current, update, revs, err := c.ensureRevisions(ctx, set, pods)
	if err != nil {
		return reconcile.Result{}, err
	}
	var actErr error
	if c.expect.Satisfied(key) {
		actErr = c.apply(ctx, key, set, decide(set, pods, current, update, c.clock.Now()))
	}
	if err := c.updateStatus(ctx, set, pods, current, update); err != nil {
		return reconcile.Result{}, err
	}
	if err := c.truncateHistory(ctx, set, pods, revs, current, update); err != nil {
		return reconcile.Result{}, err
	}
	return reconcile.Result{}, actErr
}

// adopt makes the set the controller of an orphan pod, with a patch that
// fails if the pod changed meanwhile.
func (c *Controller) adopt(ctx context.Context, set *appsv1.StatefulSet, p *corev1.Pod) (*corev1.Pod, error) {
	ref := reconcile.ControllerRef(set, kind.GroupVersion().String(), kind.Kind)
	patch, err := json.Marshal(map[string]any{"metadata": map[string]any{
		"ownerReferences": []metav1.OwnerReference{ref}, "uid": p.UID, "resourceVersion": p.ResourceVersion}})
	if err != nil {
		return nil, err
	}
	out, err := c.client.CoreV1().Pods(p.Namespace).Patch(ctx, p.Name, types.StrategicMergePatchType, patch, metav1.PatchOptions{})
	if err != nil {
		return nil, fmt.Errorf("adopt pod %s/%s: %w", p.Namespace, p.Name, err)
	}
	return out, nil
}

// revision pairs a ControllerRevision with its decoded template.
type revision struct {
	rev  *appsv1.ControllerRevision
	tmpl *corev1.PodTemplateSpec
}

// ensureRevisions finds or creates the revision of the current template
// and returns the current and update revisions.
func (c *Controller) ensureRevisions(ctx context.Context, set *appsv1.StatefulSet, pods []*corev1.Pod) (current, update revision, revs []*appsv1.ControllerRevision, err error) {
	sel, _ := metav1.LabelSelectorAsSelector(set.Spec.Selector)
	list, err := c.revs.ControllerRevisions(set.Namespace).List(sel)
	if err != nil {
		return current, update, nil, err
	}
	for _, r := range list {
		if ref := metav1.GetControllerOf(r); ref != nil && ref.UID == set.UID {
			revs = append(revs, r)
		}
	}
	reconcile.SortRevisions(revs)
	var maxRev int64
	for _, r := range revs {
		maxRev = max(maxRev, r.Revision)
	}
	for _, r := range revs {
		if reconcile.EqualRevision(r, &set.Spec.Template) {
			update.rev = r
		}
	}
	if update.rev == nil {
		for {
			r, err := reconcile.NewRevision(set, reconcile.ControllerRef(set, kind.GroupVersion().String(), kind.Kind),
				set.Spec.Selector.MatchLabels, &set.Spec.Template, maxRev+1, set.Status.CollisionCount)
			if err != nil {
				return current, update, nil, err
			}
			created, err := c.client.AppsV1().ControllerRevisions(set.Namespace).Create(ctx, r, metav1.CreateOptions{})
			if apierrors.IsAlreadyExists(err) {
				existing, gerr := c.client.AppsV1().ControllerRevisions(set.Namespace).Get(ctx, r.Name, metav1.GetOptions{})
				if gerr == nil && reconcile.EqualRevision(existing, &set.Spec.Template) {
					created, err = existing, nil
				} else {
					// A hash collision: bump the count and try another name.
					n := int32(0)
					if set.Status.CollisionCount != nil {
						n = *set.Status.CollisionCount
					}
					n++
					set.Status.CollisionCount = &n
					continue
				}
			}
			if err != nil {
				return current, update, nil, fmt.Errorf("create revision for %s/%s: %w", set.Namespace, set.Name, err)
			}
			update.rev = created
			revs = append(revs, created)
			break
		}
	} else if update.rev.Revision < maxRev {
		// A rollback to an older template makes that revision the newest.
		r := update.rev.DeepCopy()
		r.Revision = maxRev + 1
		if u, err := c.client.AppsV1().ControllerRevisions(set.Namespace).Update(ctx, r, metav1.UpdateOptions{}); err == nil {
			update.rev = u
		}
	}
	update.tmpl = set.Spec.Template.DeepCopy()
	current = update
	for _, r := range revs {
		if r.Name == set.Status.CurrentRevision {
			t, err := reconcile.RevisionTemplate(r)
			if err == nil {
				current = revision{rev: r, tmpl: t}
			}
		}
	}
	return current, update, revs, nil
}

// ordinal parses the ordinal from a pod name <set>-<n>, or -1.
func ordinal(set *appsv1.StatefulSet, p *corev1.Pod) int {
	rest, ok := strings.CutPrefix(p.Name, set.Name+"-")
	if !ok {
		return -1
	}
	n, err := strconv.Atoi(rest)
	if err != nil || n < 0 {
		return -1
	}
	return n
}

func startOrdinal(set *appsv1.StatefulSet) int {
	if set.Spec.Ordinals != nil {
		return int(set.Spec.Ordinals.Start)
	}
	return 0
}

func replicas(set *appsv1.StatefulSet) int {
	if set.Spec.Replicas == nil {
		return 1
	}
	return int(*set.Spec.Replicas)
}

func revisionOf(p *corev1.Pod) string { return p.Labels[appsv1.ControllerRevisionHashLabelKey] }

func healthy(set *appsv1.StatefulSet, p *corev1.Pod, now time.Time) bool {
	return p.Status.Phase == corev1.PodRunning && p.DeletionTimestamp == nil &&
		reconcile.IsPodAvailable(p, set.Spec.MinReadySeconds, now)
}

// apply takes the steps of a sync in order and stops at the first that
// fails.
func (c *Controller) apply(ctx context.Context, key string, set *appsv1.StatefulSet, steps []step) error {
	for _, st := range steps {
		var err error
		switch st.action {
		case recreate, update:
			err = c.deletePod(ctx, key, set, st.pod)
		case create:
			err = c.createPod(ctx, key, set, st.ord, st.rev)
		case ensureClaims:
			err = c.ensureClaims(ctx, set, st.ord, false)
		case scaleDown:
			if err = c.retainOnScaleDown(ctx, set, st.pod); err == nil {
				err = c.deletePod(ctx, key, set, st.pod)
			}
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func intOrPercent(s string, total int) (int, error) {
	if v, ok := strings.CutSuffix(s, "%"); ok {
		p, err := strconv.Atoi(v)
		return p * total / 100, err
	}
	return strconv.Atoi(s)
}

func claimName(tmpl *corev1.PersistentVolumeClaim, set *appsv1.StatefulSet, ord int) string {
	return fmt.Sprintf("%s-%s-%d", tmpl.Name, set.Name, ord)
}

// newPod builds the pod for ordinal ord from a revision's template.
func newPod(set *appsv1.StatefulSet, ord int, rev revision) *corev1.Pod {
	t := rev.tmpl.DeepCopy()
	name := fmt.Sprintf("%s-%d", set.Name, ord)
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Name: name, Namespace: set.Namespace, Labels: t.Labels, Annotations: t.Annotations,
			OwnerReferences: []metav1.OwnerReference{reconcile.ControllerRef(set, kind.GroupVersion().String(), kind.Kind)},
		},
		Spec: t.Spec,
	}
	if p.Labels == nil {
		p.Labels = map[string]string{}
	}
	p.Labels[PodNameLabel] = name
	p.Labels[PodIndexLabel] = strconv.Itoa(ord)
	p.Labels[appsv1.ControllerRevisionHashLabelKey] = rev.rev.Name
	p.Spec.Hostname = name
	p.Spec.Subdomain = set.Spec.ServiceName
	for i := range set.Spec.VolumeClaimTemplates {
		ct := &set.Spec.VolumeClaimTemplates[i]
		vol := corev1.Volume{Name: ct.Name, VolumeSource: corev1.VolumeSource{
			PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: claimName(ct, set, ord)},
		}}
		replaced := false
		for j := range p.Spec.Volumes {
			if p.Spec.Volumes[j].Name == ct.Name {
				p.Spec.Volumes[j], replaced = vol, true
			}
		}
		if !replaced {
			p.Spec.Volumes = append(p.Spec.Volumes, vol)
		}
	}
	return p
}

func (c *Controller) createPod(ctx context.Context, key string, set *appsv1.StatefulSet, ord int, rev revision) error {
	p := newPod(set, ord, rev)
	if err := c.ensureClaims(ctx, set, ord, true); err != nil {
		return err
	}
	c.expect.ExpectCreate(key, p.Name)
	_, err := c.client.CoreV1().Pods(set.Namespace).Create(ctx, p, metav1.CreateOptions{})
	if err != nil {
		c.expect.CreationObserved(key, p.Name)
		if apierrors.IsAlreadyExists(err) {
			return nil // a terminating pod of the same name; retry on its delete
		}
		c.events.Eventf(set, nil, corev1.EventTypeWarning, "FailedCreate", "Create",
			"create Pod %s in StatefulSet %s failed error: %v", p.Name, set.Name, err)
		return fmt.Errorf("create pod %s/%s: %w", set.Namespace, p.Name, err)
	}
	c.events.Eventf(set, nil, corev1.EventTypeNormal, "SuccessfulCreate", "Create",
		"create Pod %s in StatefulSet %s successful", p.Name, set.Name)
	return nil
}

func (c *Controller) deletePod(ctx context.Context, key string, set *appsv1.StatefulSet, p *corev1.Pod) error {
	c.expect.ExpectDelete(key, p.Name)
	err := c.client.CoreV1().Pods(set.Namespace).Delete(ctx, p.Name, metav1.DeleteOptions{
		Preconditions: &metav1.Preconditions{UID: &p.UID},
	})
	if err != nil && !apierrors.IsNotFound(err) {
		c.expect.DeletionObserved(key, p.Name)
		c.events.Eventf(set, nil, corev1.EventTypeWarning, "FailedDelete", "Delete",
			"delete Pod %s in StatefulSet %s failed error: %v", p.Name, set.Name, err)
		return fmt.Errorf("delete pod %s/%s: %w", set.Namespace, p.Name, err)
	}
	c.events.Eventf(set, nil, corev1.EventTypeNormal, "SuccessfulDelete", "Delete",
		"delete Pod %s in StatefulSet %s successful", p.Name, set.Name)
	return nil
}

// ensureClaims creates the ordinal's missing PVCs. With a whenDeleted
// retention of Delete the claims are owned by the set, so the garbage
// collector removes them with it, as upstream does. Before a new pod
// (creating) it refuses a claim that is being deleted, as upstream: the
// pod would otherwise start on a volume about to go, and the next sync,
// once the claim is gone, makes a fresh one.
func (c *Controller) ensureClaims(ctx context.Context, set *appsv1.StatefulSet, ord int, creating bool) error {
	for i := range set.Spec.VolumeClaimTemplates {
		ct := &set.Spec.VolumeClaimTemplates[i]
		name := claimName(ct, set, ord)
		existing, err := c.pvcs.PersistentVolumeClaims(set.Namespace).Get(name)
		if err == nil && creating && existing.DeletionTimestamp != nil {
			err := fmt.Errorf("pvc %s is being deleted", name)
			c.events.Eventf(set, nil, corev1.EventTypeWarning, "FailedCreate", "Create",
				"create Claim %s for Pod %s-%d in StatefulSet %s failed error: %v", name, set.Name, ord, set.Name, err)
			return err
		}
		if err == nil {
			if err := c.reconcileClaimOwner(ctx, set, existing); err != nil {
				return err
			}
			continue
		}
		if !apierrors.IsNotFound(err) {
			return err
		}
		pvc := &corev1.PersistentVolumeClaim{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: set.Namespace, Labels: map[string]string{},
				Annotations: ct.Annotations},
			Spec: *ct.Spec.DeepCopy(),
		}
		for k, v := range ct.Labels {
			pvc.Labels[k] = v
		}
		for k, v := range set.Spec.Selector.MatchLabels {
			pvc.Labels[k] = v
		}
		if whenDeleted(set) == appsv1.DeletePersistentVolumeClaimRetentionPolicyType {
			pvc.OwnerReferences = []metav1.OwnerReference{setOwnerRef(set)}
		}
		if _, err := c.client.CoreV1().PersistentVolumeClaims(set.Namespace).Create(ctx, pvc, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
			c.events.Eventf(set, nil, corev1.EventTypeWarning, "FailedCreate", "Create",
				"create Claim %s for Pod %s-%d in StatefulSet %s failed error: %v", name, set.Name, ord, set.Name, err)
			return fmt.Errorf("create claim %s/%s: %w", set.Namespace, name, err)
		}
	}
	return nil
}

func whenDeleted(set *appsv1.StatefulSet) appsv1.PersistentVolumeClaimRetentionPolicyType {
	if p := set.Spec.PersistentVolumeClaimRetentionPolicy; p != nil && p.WhenDeleted != "" {
		return p.WhenDeleted
	}
	return appsv1.RetainPersistentVolumeClaimRetentionPolicyType
}

func whenScaled(set *appsv1.StatefulSet) appsv1.PersistentVolumeClaimRetentionPolicyType {
	if p := set.Spec.PersistentVolumeClaimRetentionPolicy; p != nil && p.WhenScaled != "" {
		return p.WhenScaled
	}
	return appsv1.RetainPersistentVolumeClaimRetentionPolicyType
}

func setOwnerRef(set *appsv1.StatefulSet) metav1.OwnerReference {
	t := true
	return metav1.OwnerReference{APIVersion: kind.GroupVersion().String(), Kind: kind.Kind,
		Name: set.Name, UID: set.UID, BlockOwnerDeletion: &t}
}

// reconcileClaimOwner keeps a live ordinal's claim owned as the retention
// policy says, as upstream does: by the set when whenDeleted is Delete and
// by nothing else. A reference to a pod (left from an earlier scale-down
// under whenScaled=Delete) is dropped, or the garbage collector would
// remove the claim of the pod that now holds the ordinal.
func (c *Controller) reconcileClaimOwner(ctx context.Context, set *appsv1.StatefulSet, pvc *corev1.PersistentVolumeClaim) error {
	wantSet := whenDeleted(set) == appsv1.DeletePersistentVolumeClaimRetentionPolicyType
	refs := make([]metav1.OwnerReference, 0, len(pvc.OwnerReferences)+1)
	hasSet, changed := false, false
	for _, r := range pvc.OwnerReferences {
		switch {
		case r.UID == set.UID && wantSet:
			hasSet = true
		case r.UID == set.UID, r.Kind == "Pod" && r.APIVersion == "v1":
			changed = true
			continue
		}
		refs = append(refs, r)
	}
	if wantSet && !hasSet {
		refs, changed = append(refs, setOwnerRef(set)), true
	}
	if !changed {
		return nil
	}
	pvc = pvc.DeepCopy()
	pvc.OwnerReferences = refs
	if len(refs) == 0 {
		pvc.OwnerReferences = nil
	}
	_, err := c.client.CoreV1().PersistentVolumeClaims(set.Namespace).Update(ctx, pvc, metav1.UpdateOptions{})
	if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
		return fmt.Errorf("update claim owner %s/%s: %w", pvc.Namespace, pvc.Name, err)
	}
	return nil
}

// retainOnScaleDown makes a condemned pod own its claims when whenScaled
// is Delete, so the garbage collector removes them after the pod.
func (c *Controller) retainOnScaleDown(ctx context.Context, set *appsv1.StatefulSet, p *corev1.Pod) error {
	if whenScaled(set) != appsv1.DeletePersistentVolumeClaimRetentionPolicyType {
		return nil
	}
	ord := ordinal(set, p)
	for i := range set.Spec.VolumeClaimTemplates {
		name := claimName(&set.Spec.VolumeClaimTemplates[i], set, ord)
		pvc, err := c.pvcs.PersistentVolumeClaims(set.Namespace).Get(name)
		if err != nil {
			continue
		}
		owned := false
		for _, r := range pvc.OwnerReferences {
			owned = owned || r.UID == p.UID
		}
		if owned {
			continue
		}
		pvc = pvc.DeepCopy()
		t := true
		pvc.OwnerReferences = append(pvc.OwnerReferences, metav1.OwnerReference{
			APIVersion: "v1", Kind: "Pod", Name: p.Name, UID: p.UID, BlockOwnerDeletion: &t})
		if _, err := c.client.CoreV1().PersistentVolumeClaims(set.Namespace).Update(ctx, pvc, metav1.UpdateOptions{}); err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("update claim owner %s/%s: %w", pvc.Namespace, pvc.Name, err)
		}
	}
	return nil
}

// computeStatus is the pure status computation.
func computeStatus(set *appsv1.StatefulSet, pods []*corev1.Pod, current, update string, now clock.PassiveClock) appsv1.StatefulSetStatus {
	st := appsv1.StatefulSetStatus{
		ObservedGeneration: set.Generation, CurrentRevision: current, UpdateRevision: update,
		CollisionCount: set.Status.CollisionCount, Conditions: set.Status.Conditions,
	}
	for _, p := range pods {
		if p.Status.Phase == "" && p.Spec.NodeName == "" && p.CreationTimestamp.IsZero() {
			continue
		}
		st.Replicas++
		if reconcile.IsPodReady(p) && p.DeletionTimestamp == nil {
			st.ReadyReplicas++
			if reconcile.IsPodAvailable(p, set.Spec.MinReadySeconds, now.Now()) {
				st.AvailableReplicas++
			}
		}
		if p.DeletionTimestamp == nil {
			switch revisionOf(p) {
			case current:
				st.CurrentReplicas++
			}
			if revisionOf(p) == update {
				st.UpdatedReplicas++
			}
		}
	}
	// A finished rolling update makes the update revision current.
	if set.Spec.UpdateStrategy.Type != appsv1.OnDeleteStatefulSetStrategyType &&
		st.UpdatedReplicas == int32(replicas(set)) && st.ReadyReplicas == st.UpdatedReplicas && st.Replicas == st.UpdatedReplicas {
		st.CurrentRevision = update
		st.CurrentReplicas = st.UpdatedReplicas
	}
	return st
}

func (c *Controller) updateStatus(ctx context.Context, set *appsv1.StatefulSet, pods []*corev1.Pod, current, update revision) error {
	st := computeStatus(set, pods, current.rev.Name, update.rev.Name, c.clock)
	if equality.Semantic.DeepEqual(st, set.Status) {
		return nil
	}
	set.Status = st
	_, err := c.client.AppsV1().StatefulSets(set.Namespace).UpdateStatus(ctx, set, metav1.UpdateOptions{})
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("update status of statefulset %s/%s: %w", set.Namespace, set.Name, err)
	}
	return nil
}

// truncateHistory deletes revisions beyond revisionHistoryLimit that no
// live pod and neither the current nor the update revision uses.
func (c *Controller) truncateHistory(ctx context.Context, set *appsv1.StatefulSet, pods []*corev1.Pod, revs []*appsv1.ControllerRevision, current, update revision) error {
	limit := 10
	if set.Spec.RevisionHistoryLimit != nil {
		limit = int(*set.Spec.RevisionHistoryLimit)
	}
	live := map[string]bool{current.rev.Name: true, update.rev.Name: true}
	for _, p := range pods {
		live[revisionOf(p)] = true
	}
	var old []*appsv1.ControllerRevision
	for _, r := range revs {
		if !live[r.Name] {
			old = append(old, r)
		}
	}
	for i := 0; i < len(old)-limit; i++ {
		err := c.client.AppsV1().ControllerRevisions(set.Namespace).Delete(ctx, old[i].Name, metav1.DeleteOptions{})
		if err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("delete revision %s/%s: %w", set.Namespace, old[i].Name, err)
		}
	}
	return nil
}
