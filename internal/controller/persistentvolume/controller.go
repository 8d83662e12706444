package persistentvolume

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	storagelisters "k8s.io/client-go/listers/storage/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/events"

	"skiff/internal/controller"
	"skiff/internal/controller/reconcile"

	"skiff/internal/volumematch"
)

// ResyncPeriod is how often every claim and volume is synced again
// without an event, as upstream's --pvclaimbinder-sync-period.
const ResyncPeriod = 15 * time.Second

// Controller binds claims to volumes.
type Controller struct {
	client  kubernetes.Interface
	claims  corelisters.PersistentVolumeClaimLister
	volumes corelisters.PersistentVolumeLister
	classes storagelisters.StorageClassLister
	pods    corelisters.PodLister
	events  events.EventRecorder
	logger  *slog.Logger

	claimLoop  *reconcile.Loop
	volumeLoop *reconcile.Loop
	// synced reports whether the caches hold their first list: until
	// then every claim is queued by its own add event anyway.
	synced func() bool
}

var _ controller.Controller = (*Controller)(nil)

// New is the controller.Constructor of the PV binder.
func New(cc controller.Context) (controller.Controller, error) {
	pvcInf := cc.Informers.Core().V1().PersistentVolumeClaims()
	pvInf := cc.Informers.Core().V1().PersistentVolumes()
	scInf := cc.Informers.Storage().V1().StorageClasses()
	podInf := cc.Informers.Core().V1().Pods()
	c := &Controller{
		client: cc.Client, claims: pvcInf.Lister(), volumes: pvInf.Lister(),
		classes: scInf.Lister(), pods: podInf.Lister(), events: cc.Events, logger: cc.Logger,
	}
	c.claimLoop = reconcile.NewLoop("persistentvolume-binder-claims", cc.Clock, cc.Logger, c.syncClaimKey)
	c.volumeLoop = reconcile.NewLoop("persistentvolume-binder-volumes", cc.Clock, cc.Logger, c.syncVolumeKey)

	handlers := []struct {
		inf cache.SharedIndexInformer
		h   cache.ResourceEventHandler
	}{
		{pvcInf.Informer(), cache.ResourceEventHandlerFuncs{
			AddFunc:    c.claimLoop.Enqueue,
			UpdateFunc: func(_, o any) { c.claimLoop.Enqueue(o) },
			DeleteFunc: c.claimDeleted,
		}},
		{pvInf.Informer(), cache.ResourceEventHandlerFuncs{
			AddFunc:    c.volumeChanged,
			UpdateFunc: func(_, o any) { c.volumeChanged(o) },
			DeleteFunc: c.volumeDeleted,
		}},
		// A new or changed class may let waiting claims provision or get
		// the default class.
		{scInf.Informer(), cache.ResourceEventHandlerFuncs{
			AddFunc:    func(any) { c.enqueueUnboundClaims() },
			UpdateFunc: func(any, any) { c.enqueueUnboundClaims() },
		}},
	}
	for _, h := range handlers {
		if _, err := h.inf.AddEventHandler(h.h); err != nil {
			return nil, fmt.Errorf("persistentvolume-binder: add handler: %w", err)
		}
	}
	synced := []cache.InformerSynced{pvcInf.Informer().HasSynced, pvInf.Informer().HasSynced,
		scInf.Informer().HasSynced, podInf.Informer().HasSynced}
	c.claimLoop.WaitFor(synced...)
	c.volumeLoop.WaitFor(synced...)
	c.synced = func() bool { return pvcInf.Informer().HasSynced() && pvInf.Informer().HasSynced() }
	return c, nil
}

// Run runs both loops until ctx is done.
func (c *Controller) Run(ctx context.Context, workers int) error {
	var wg sync.WaitGroup
	errs := make([]error, 2)
	wg.Go(func() { errs[0] = c.claimLoop.Run(ctx, workers) })
	wg.Go(func() { errs[1] = c.volumeLoop.Run(ctx, workers) })
	wg.Wait()
	if errs[0] != nil {
		return errs[0]
	}
	return errs[1]
}

// claimDeleted syncs the claim's volume at once, so that it is Released
// and reclaimed without waiting for the resync.
func (c *Controller) claimDeleted(obj any) {
	obj = reconcile.Tombstone(obj)
	if pvc, ok := obj.(*corev1.PersistentVolumeClaim); ok && pvc.Spec.VolumeName != "" {
		c.volumeLoop.Add(pvc.Spec.VolumeName)
	}
}

// volumeChanged syncs the volume, the claim it names, and, when it is
// free, the claims still waiting for a volume: a static PV created after
// its claim binds at once, not at the next resync.
func (c *Controller) volumeChanged(obj any) {
	pv, ok := obj.(*corev1.PersistentVolume)
	if !ok {
		return
	}
	c.volumeLoop.Enqueue(pv)
	if r := pv.Spec.ClaimRef; r != nil {
		c.claimLoop.Add(r.Namespace + "/" + r.Name)
	} else if pv.Status.Phase == corev1.VolumeAvailable {
		c.enqueueUnboundClaims()
	}
}

// volumeDeleted syncs the claim the volume was bound to (it is Lost now).
func (c *Controller) volumeDeleted(obj any) {
	obj = reconcile.Tombstone(obj)
	if pv, ok := obj.(*corev1.PersistentVolume); ok && pv.Spec.ClaimRef != nil {
		c.claimLoop.Add(pv.Spec.ClaimRef.Namespace + "/" + pv.Spec.ClaimRef.Name)
	}
}

func (c *Controller) enqueueUnboundClaims() {
	if !c.synced() {
		return
	}
	pvcs, err := c.claims.List(labels.Everything())
	if err != nil {
		return
	}
	for _, pvc := range pvcs {
		if !metav1.HasAnnotation(pvc.ObjectMeta, AnnBindCompleted) {
			c.claimLoop.Enqueue(pvc)
		}
	}
}

// resync is the result of every sync that succeeded: upstream syncs every
// claim and volume periodically.
var resync = reconcile.Result{RequeueAfter: ResyncPeriod}

// conflictRetry is how soon a sync that lost a write race runs again: the
// winner's event may not concern this key (two claims raced for one
// volume), so the loser does not wait for the resync.
const conflictRetry = 100 * time.Millisecond

// settle is the outcome of a sync: a write conflict (a newer object
// exists) or an object gone meanwhile is not a failure to log.
func settle(err error) (reconcile.Result, error) {
	switch {
	case err == nil || apierrors.IsNotFound(err):
		return resync, nil
	case apierrors.IsConflict(err):
		return reconcile.Result{RequeueAfter: conflictRetry}, nil
	}
	return resync, err
}

func (c *Controller) syncClaimKey(ctx context.Context, key string) (reconcile.Result, error) {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return reconcile.Result{}, nil
	}
	pvc, err := c.claims.PersistentVolumeClaims(ns).Get(name)
	if apierrors.IsNotFound(err) {
		return reconcile.Result{}, nil
	}
	if err != nil {
		return reconcile.Result{}, err
	}
	if !metav1.HasAnnotation(pvc.ObjectMeta, AnnBindCompleted) {
		return settle(c.syncUnboundClaim(ctx, pvc))
	}
	return settle(c.syncBoundClaim(ctx, pvc))
}

// syncUnboundClaim handles a claim not yet bound (no bind-completed).
func (c *Controller) syncUnboundClaim(ctx context.Context, pvc *corev1.PersistentVolumeClaim) error {
	if pvc.Spec.VolumeName != "" {
		return c.syncPreboundClaim(ctx, pvc)
	}
	delay, err := c.delayBinding(pvc)
	if err != nil {
		return err
	}
	all, err := c.volumes.List(labels.Everything())
	if err != nil {
		return err
	}
	pv, err := findBestMatch(pvc, all, delay)
	if err != nil {
		return fmt.Errorf("error finding PV for claim %s/%s: %w", pvc.Namespace, pvc.Name, err)
	}
	if pv != nil {
		return c.bind(ctx, pv, pvc)
	}
	// No volume: the default class, if the claim has none (upstream's
	// retroactive default StorageClass); the update syncs the claim again.
	if updated, err := c.assignDefaultClass(ctx, pvc); err != nil || updated {
		return err
	}
	switch {
	case delay && pvc.Annotations[AnnSelectedNode] == "":
		c.eventForDelayedClaim(pvc)
	case volumematch.ClaimClass(pvc) != "":
		return c.provision(ctx, pvc)
	default:
		c.events.Eventf(pvc, nil, corev1.EventTypeNormal, "FailedBinding", "Binding",
			"no persistent volumes available for this claim and no storage class is set")
	}
	_, err = c.updateClaimStatus(ctx, pvc, corev1.ClaimPending, nil)
	return err
}

// delayBinding reports whether the claim's class binds WaitForFirstConsumer.
func (c *Controller) delayBinding(pvc *corev1.PersistentVolumeClaim) (bool, error) {
	name := volumematch.ClaimClass(pvc)
	if name == "" {
		return false, nil
	}
	sc, err := c.classes.Get(name)
	if apierrors.IsNotFound(err) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if sc.VolumeBindingMode == nil {
		return false, fmt.Errorf("VolumeBindingMode not set for StorageClass %q", name)
	}
	return *sc.VolumeBindingMode == storagev1.VolumeBindingWaitForFirstConsumer, nil
}

// eventForDelayedClaim tells why a WaitForFirstConsumer claim waits: no
// pod uses it yet, or its pods are not scheduled yet.
func (c *Controller) eventForDelayedClaim(pvc *corev1.PersistentVolumeClaim) {
	var waiting []string
	pods, _ := c.pods.Pods(pvc.Namespace).List(labels.Everything())
	for _, p := range pods {
		if p.Spec.NodeName != "" || p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed {
			continue
		}
		for _, v := range p.Spec.Volumes {
			if claimOfVolume(p, v) == pvc.Name {
				waiting = append(waiting, p.Name)
				break
			}
		}
	}
	slices.Sort(waiting)
	switch len(waiting) {
	case 0:
		c.events.Eventf(pvc, nil, corev1.EventTypeNormal, "WaitForFirstConsumer", "Binding",
			"waiting for first consumer to be created before binding")
	case 1:
		c.events.Eventf(pvc, nil, corev1.EventTypeNormal, "WaitForPodScheduled", "Binding",
			"waiting for pod %s to be scheduled", waiting[0])
	default:
		c.events.Eventf(pvc, nil, corev1.EventTypeNormal, "WaitForPodScheduled", "Binding",
			"waiting for pods %s to be scheduled", strings.Join(waiting, ","))
	}
}

// claimOfVolume is the claim a pod volume uses: its claim, or the claim of
// a generic ephemeral volume (<pod>-<volume>).
func claimOfVolume(p *corev1.Pod, v corev1.Volume) string {
	switch {
	case v.PersistentVolumeClaim != nil:
		return v.PersistentVolumeClaim.ClaimName
	case v.Ephemeral != nil:
		return p.Name + "-" + v.Name
	}
	return ""
}

// assignDefaultClass gives a claim with no class the default class, if
// there is one; it reports whether it updated the claim.
func (c *Controller) assignDefaultClass(ctx context.Context, pvc *corev1.PersistentVolumeClaim) (bool, error) {
	if claimHasClass(pvc) {
		return false, nil
	}
	classes, err := c.classes.List(labels.Everything())
	if err != nil {
		return false, err
	}
	def := defaultClass(classes)
	if def == nil {
		return false, nil
	}
	n := pvc.DeepCopy()
	n.Spec.StorageClassName = &def.Name
	if _, err := c.client.CoreV1().PersistentVolumeClaims(n.Namespace).Update(ctx, n, metav1.UpdateOptions{}); err != nil {
		return false, fmt.Errorf("can't update PersistentVolumeClaim[%s/%s]: %w", n.Namespace, n.Name, err)
	}
	c.logger.Info("assigned the default storage class to a claim", "claim", n.Namespace+"/"+n.Name, "class", def.Name)
	return true, nil
}

// provision asks the class's provisioner for a volume: every provisioner
// is external to skiff, so the binder only annotates the claim and waits
// for a PV to appear, as upstream does for external provisioners.
func (c *Controller) provision(ctx context.Context, pvc *corev1.PersistentVolumeClaim) error {
	sc, err := c.classes.Get(volumematch.ClaimClass(pvc))
	if err != nil {
		c.events.Eventf(pvc, nil, corev1.EventTypeWarning, "ProvisioningFailed", "Provisioning", "%s", err.Error())
		if apierrors.IsNotFound(err) {
			// Upstream retries at the next sync, quietly.
			return nil
		}
		return err
	}
	if strings.HasPrefix(sc.Provisioner, "kubernetes.io/") {
		// An in-tree plugin name: skiff has none, as upstream has none of
		// that name.
		c.events.Eventf(pvc, nil, corev1.EventTypeWarning, "ProvisioningFailed", "Provisioning",
			"no provisionable volume plugin matched")
		return nil
	}
	if pvc.Annotations[AnnStorageProvisioner] != sc.Provisioner || pvc.Annotations[AnnBetaStorageProvisioner] != sc.Provisioner {
		n := pvc.DeepCopy()
		if n.Annotations == nil {
			n.Annotations = map[string]string{}
		}
		n.Annotations[AnnStorageProvisioner] = sc.Provisioner
		n.Annotations[AnnBetaStorageProvisioner] = sc.Provisioner
		updated, err := c.client.CoreV1().PersistentVolumeClaims(n.Namespace).Update(ctx, n, metav1.UpdateOptions{})
		if err != nil {
			if !apierrors.IsConflict(err) {
				c.events.Eventf(pvc, nil, corev1.EventTypeWarning, "ProvisioningFailed", "Provisioning", "Error saving claim: %v", err)
			}
			return err
		}
		pvc = updated
	}
	c.events.Eventf(pvc, nil, corev1.EventTypeNormal, "ExternalProvisioning", "Provisioning",
		"Waiting for a volume to be created either by the external provisioner '%s' or manually by the system administrator. If volume creation is delayed, please verify that the provisioner is running and correctly registered.",
		sc.Provisioner)
	return nil
}

// syncPreboundClaim handles a claim that names its volume.
func (c *Controller) syncPreboundClaim(ctx context.Context, pvc *corev1.PersistentVolumeClaim) error {
	pv, err := c.volumes.Get(pvc.Spec.VolumeName)
	if apierrors.IsNotFound(err) {
		// Not there yet: wait for it.
		_, err = c.updateClaimStatus(ctx, pvc, corev1.ClaimPending, nil)
		return err
	}
	if err != nil {
		return err
	}
	switch {
	case pv.Spec.ClaimRef == nil:
		if err := checkSatisfies(pv, pvc); err != nil {
			c.events.Eventf(pvc, nil, corev1.EventTypeWarning, "VolumeMismatch", "Binding",
				"Cannot bind to requested volume %q: %s", pv.Name, err)
			_, err = c.updateClaimStatus(ctx, pvc, corev1.ClaimPending, nil)
			return err
		}
		return c.bind(ctx, pv, pvc)
	case volumematch.BoundToClaim(pv, pvc):
		return c.bind(ctx, pv, pvc)
	default:
		c.events.Eventf(pvc, nil, corev1.EventTypeWarning, "FailedBinding", "Binding",
			"volume %q already bound to a different claim.", pv.Name)
		if metav1.HasAnnotation(pvc.ObjectMeta, AnnBoundByController) {
			return fmt.Errorf("invalid binding of claim %s/%s to volume %q: volume already claimed by %s/%s",
				pvc.Namespace, pvc.Name, pv.Name, pv.Spec.ClaimRef.Namespace, pv.Spec.ClaimRef.Name)
		}
		_, err = c.updateClaimStatus(ctx, pvc, corev1.ClaimPending, nil)
		return err
	}
}

// syncBoundClaim handles a claim once bound: it stays Bound while its
// volume points back at it, and is Lost otherwise.
func (c *Controller) syncBoundClaim(ctx context.Context, pvc *corev1.PersistentVolumeClaim) error {
	if pvc.Spec.VolumeName == "" {
		return c.claimLost(ctx, pvc, "ClaimLost", "Bound claim has lost reference to PersistentVolume. Data on the volume is lost!")
	}
	pv, err := c.volumes.Get(pvc.Spec.VolumeName)
	if apierrors.IsNotFound(err) {
		return c.claimLost(ctx, pvc, "ClaimLost", "Bound claim has lost its PersistentVolume. Data on the volume is lost!")
	}
	if err != nil {
		return err
	}
	if pv.Spec.ClaimRef == nil || pv.Spec.ClaimRef.UID == pvc.UID {
		return c.bind(ctx, pv, pvc)
	}
	return c.claimLost(ctx, pvc, "ClaimMisbound", "Two claims are bound to the same volume, this one is bound incorrectly")
}

func (c *Controller) claimLost(ctx context.Context, pvc *corev1.PersistentVolumeClaim, reason, msg string) error {
	if pvc.Status.Phase == corev1.ClaimLost {
		return nil
	}
	n, err := c.updateClaimStatus(ctx, pvc, corev1.ClaimLost, nil)
	if err != nil {
		return err
	}
	c.events.Eventf(n, nil, corev1.EventTypeWarning, reason, "Binding", "%s", msg)
	return nil
}

// bind completes the binding of pv and pvc in upstream's order: the
// volume's claimRef, its phase, the claim's volumeName and annotations,
// its status. Each step is skipped when already done, so a sync that
// failed half-way is finished by the next.
func (c *Controller) bind(ctx context.Context, pv *corev1.PersistentVolume, pvc *corev1.PersistentVolumeClaim) error {
	pv, err := c.bindVolumeToClaim(ctx, pv, pvc)
	if err != nil {
		return err
	}
	if pv, err = c.updateVolumePhase(ctx, pv, corev1.VolumeBound, ""); err != nil {
		return err
	}
	if pvc, err = c.bindClaimToVolume(ctx, pvc, pv); err != nil {
		return err
	}
	_, err = c.updateClaimStatus(ctx, pvc, corev1.ClaimBound, pv)
	return err
}

// volumeBinding is the pure part of binding a volume: the changed copy,
// or nil when the volume is bound already.
func volumeBinding(pv *corev1.PersistentVolume, pvc *corev1.PersistentVolumeClaim) *corev1.PersistentVolume {
	byController := !volumematch.BoundToClaim(pv, pvc)
	n := pv.DeepCopy()
	dirty := false
	if r := pv.Spec.ClaimRef; r == nil || r.Name != pvc.Name || r.Namespace != pvc.Namespace || r.UID != pvc.UID {
		n.Spec.ClaimRef = &corev1.ObjectReference{
			Kind: "PersistentVolumeClaim", APIVersion: "v1",
			Namespace: pvc.Namespace, Name: pvc.Name, UID: pvc.UID, ResourceVersion: pvc.ResourceVersion,
		}
		dirty = true
	}
	if byController && !metav1.HasAnnotation(n.ObjectMeta, AnnBoundByController) {
		metav1.SetMetaDataAnnotation(&n.ObjectMeta, AnnBoundByController, "yes")
		dirty = true
	}
	if !dirty {
		return nil
	}
	return n
}

// claimBinding is the pure part of binding a claim: the changed copy, or
// nil when nothing changes.
func claimBinding(pvc *corev1.PersistentVolumeClaim, pv *corev1.PersistentVolume) *corev1.PersistentVolumeClaim {
	n := pvc.DeepCopy()
	dirty := false
	if pvc.Spec.VolumeName != pv.Name {
		n.Spec.VolumeName = pv.Name
		if !metav1.HasAnnotation(n.ObjectMeta, AnnBoundByController) {
			metav1.SetMetaDataAnnotation(&n.ObjectMeta, AnnBoundByController, "yes")
		}
		dirty = true
	}
	if !metav1.HasAnnotation(n.ObjectMeta, AnnBindCompleted) {
		metav1.SetMetaDataAnnotation(&n.ObjectMeta, AnnBindCompleted, "yes")
		dirty = true
	}
	if !dirty {
		return nil
	}
	return n
}

func (c *Controller) bindVolumeToClaim(ctx context.Context, pv *corev1.PersistentVolume, pvc *corev1.PersistentVolumeClaim) (*corev1.PersistentVolume, error) {
	n := volumeBinding(pv, pvc)
	if n == nil {
		return pv, nil
	}
	updated, err := c.client.CoreV1().PersistentVolumes().Update(ctx, n, metav1.UpdateOptions{})
	if err != nil {
		return nil, fmt.Errorf("bind volume %s to claim %s/%s: %w", pv.Name, pvc.Namespace, pvc.Name, err)
	}
	return updated, nil
}

func (c *Controller) bindClaimToVolume(ctx context.Context, pvc *corev1.PersistentVolumeClaim, pv *corev1.PersistentVolume) (*corev1.PersistentVolumeClaim, error) {
	n := claimBinding(pvc, pv)
	if n == nil {
		return pvc, nil
	}
	updated, err := c.client.CoreV1().PersistentVolumeClaims(n.Namespace).Update(ctx, n, metav1.UpdateOptions{})
	if err != nil {
		return nil, fmt.Errorf("bind claim %s/%s to volume %s: %w", pvc.Namespace, pvc.Name, pv.Name, err)
	}
	return updated, nil
}

// claimStatus is the pure part of updateClaimStatus: the claim's status
// for phase and volume (whose capacity and access modes a bound claim
// shows), and whether it differs from the current one.
func claimStatus(pvc *corev1.PersistentVolumeClaim, phase corev1.PersistentVolumeClaimPhase, pv *corev1.PersistentVolume) (corev1.PersistentVolumeClaimStatus, bool) {
	s := *pvc.Status.DeepCopy()
	dirty := false
	if s.Phase != phase {
		s.Phase = phase
		dirty = true
	}
	if pv == nil {
		if s.AccessModes != nil || s.Capacity != nil {
			s.AccessModes, s.Capacity = nil, nil
			dirty = true
		}
		return s, dirty
	}
	if !slices.Equal(s.AccessModes, pv.Spec.AccessModes) {
		s.AccessModes = slices.Clone(pv.Spec.AccessModes)
		dirty = true
	}
	// The capacity is the volume's only as the claim becomes bound, as
	// upstream: afterwards a resizer owns it (it raises the volume first
	// and reports the claim's new size when the resize is done).
	vq := pv.Spec.Capacity[corev1.ResourceStorage]
	cq, ok := s.Capacity[corev1.ResourceStorage]
	if pvc.Status.Phase != phase && (!ok || vq.Cmp(cq) != 0) {
		s.Capacity = pv.Spec.Capacity.DeepCopy()
		dirty = true
	}
	return s, dirty
}

func (c *Controller) updateClaimStatus(ctx context.Context, pvc *corev1.PersistentVolumeClaim, phase corev1.PersistentVolumeClaimPhase, pv *corev1.PersistentVolume) (*corev1.PersistentVolumeClaim, error) {
	s, dirty := claimStatus(pvc, phase, pv)
	if !dirty {
		return pvc, nil
	}
	n := pvc.DeepCopy()
	n.Status = s
	updated, err := c.client.CoreV1().PersistentVolumeClaims(n.Namespace).UpdateStatus(ctx, n, metav1.UpdateOptions{})
	if err != nil {
		return nil, fmt.Errorf("update status of claim %s/%s: %w", pvc.Namespace, pvc.Name, err)
	}
	if pvc.Status.Phase != phase {
		c.logger.Info("claim entered phase", "claim", pvc.Namespace+"/"+pvc.Name, "phase", phase)
	}
	return updated, nil
}

// updateVolumePhase sets the volume's phase and message; the API server
// stamps status.lastPhaseTransitionTime.
func (c *Controller) updateVolumePhase(ctx context.Context, pv *corev1.PersistentVolume, phase corev1.PersistentVolumePhase, message string) (*corev1.PersistentVolume, error) {
	if pv.Status.Phase == phase && pv.Status.Message == message {
		return pv, nil
	}
	n := pv.DeepCopy()
	n.Status.Phase, n.Status.Message = phase, message
	updated, err := c.client.CoreV1().PersistentVolumes().UpdateStatus(ctx, n, metav1.UpdateOptions{})
	if err != nil {
		return nil, fmt.Errorf("update phase of volume %s: %w", pv.Name, err)
	}
	if pv.Status.Phase != phase {
		c.logger.Info("volume entered phase", "volume", pv.Name, "phase", phase)
	}
	return updated, nil
}

// updateVolumePhaseWithEvent also records an event, only when the phase
// changes (so a resync does not repeat it).
func (c *Controller) updateVolumePhaseWithEvent(ctx context.Context, pv *corev1.PersistentVolume, phase corev1.PersistentVolumePhase, eventtype, reason, message string) error {
	if pv.Status.Phase == phase {
		return nil
	}
	n, err := c.updateVolumePhase(ctx, pv, phase, message)
	if err != nil {
		return err
	}
	c.events.Eventf(n, nil, eventtype, reason, "Reclaim", "%s", message)
	return nil
}

func (c *Controller) syncVolumeKey(ctx context.Context, key string) (reconcile.Result, error) {
	pv, err := c.volumes.Get(key)
	if apierrors.IsNotFound(err) {
		return reconcile.Result{}, nil
	}
	if err != nil {
		return reconcile.Result{}, err
	}
	return settle(c.syncVolume(ctx, pv))
}

// syncVolume is upstream's syncVolume.
func (c *Controller) syncVolume(ctx context.Context, pv *corev1.PersistentVolume) error {
	ref := pv.Spec.ClaimRef
	if ref == nil || ref.UID == "" {
		// Unused, or pre-bound to a claim that its sync will bind.
		_, err := c.updateVolumePhase(ctx, pv, corev1.VolumeAvailable, "")
		return err
	}
	pvc, err := c.claims.PersistentVolumeClaims(ref.Namespace).Get(ref.Name)
	if err != nil && !apierrors.IsNotFound(err) {
		return err
	}
	if apierrors.IsNotFound(err) {
		pvc = nil
		if pv.Status.Phase != corev1.VolumeReleased && pv.Status.Phase != corev1.VolumeFailed {
			// The cache may not have the claim yet (a volume bound by
			// the scheduler or a provisioner): ask the API server before
			// releasing the volume.
			live, err := c.client.CoreV1().PersistentVolumeClaims(ref.Namespace).Get(ctx, ref.Name, metav1.GetOptions{})
			if err != nil && !apierrors.IsNotFound(err) {
				return err
			}
			if err == nil {
				pvc = live
			}
		}
	}
	if pvc != nil && pvc.UID != ref.UID {
		// Another claim of the same name: the bound one was deleted.
		pvc = nil
	}
	switch {
	case pvc == nil:
		if pv.Status.Phase != corev1.VolumeReleased && pv.Status.Phase != corev1.VolumeFailed {
			if pv, err = c.updateVolumePhase(ctx, pv, corev1.VolumeReleased, ""); err != nil {
				return err
			}
		}
		return c.reclaim(ctx, pv)
	case pvc.Spec.VolumeName == "":
		if volumematch.VolumeMode(pvc.Spec.VolumeMode) != volumematch.VolumeMode(pv.Spec.VolumeMode) {
			c.events.Eventf(pv, nil, corev1.EventTypeWarning, "VolumeMismatch", "Binding",
				"Cannot bind PersistentVolume to requested PersistentVolumeClaim %q due to incompatible volumeMode.", pvc.Name)
			c.events.Eventf(pvc, nil, corev1.EventTypeWarning, "VolumeMismatch", "Binding",
				"Cannot bind PersistentVolume %q to requested PersistentVolumeClaim due to incompatible volumeMode.", pv.Name)
			return nil
		}
		// The claim's sync completes the binding.
		c.claimLoop.Add(pvc.Namespace + "/" + pvc.Name)
		return nil
	case pvc.Spec.VolumeName == pv.Name:
		_, err := c.updateVolumePhase(ctx, pv, corev1.VolumeBound, "")
		return err
	default:
		// The claim is bound to another volume.
		if metav1.HasAnnotation(pv.ObjectMeta, AnnDynamicallyProvisioned) && pv.Spec.PersistentVolumeReclaimPolicy == corev1.PersistentVolumeReclaimDelete {
			if pv.Status.Phase != corev1.VolumeReleased && pv.Status.Phase != corev1.VolumeFailed {
				if pv, err = c.updateVolumePhase(ctx, pv, corev1.VolumeReleased, ""); err != nil {
					return err
				}
			}
			return c.reclaim(ctx, pv)
		}
		return c.unbindVolume(ctx, pv)
	}
}

// unbindVolume frees a volume whose claim went to another volume: all of
// the binding when the controller made it, only the UID when a user
// pre-bound the volume.
func (c *Controller) unbindVolume(ctx context.Context, pv *corev1.PersistentVolume) error {
	n := pv.DeepCopy()
	if metav1.HasAnnotation(pv.ObjectMeta, AnnBoundByController) {
		n.Spec.ClaimRef = nil
		delete(n.Annotations, AnnBoundByController)
		if len(n.Annotations) == 0 {
			n.Annotations = nil
		}
	} else {
		n.Spec.ClaimRef.UID = ""
	}
	updated, err := c.client.CoreV1().PersistentVolumes().Update(ctx, n, metav1.UpdateOptions{})
	if err != nil {
		return fmt.Errorf("unbind volume %s: %w", pv.Name, err)
	}
	_, err = c.updateVolumePhase(ctx, updated, corev1.VolumeAvailable, "")
	return err
}

// reclaim runs a Released volume's reclaim policy.
func (c *Controller) reclaim(ctx context.Context, pv *corev1.PersistentVolume) error {
	act, reason, msg := reclaim(pv)
	switch act {
	case reclaimRetain:
		return nil
	case reclaimExternal:
		// Its provisioner deletes it (and the API object).
		return nil
	}
	return c.updateVolumePhaseWithEvent(ctx, pv, corev1.VolumeFailed, corev1.EventTypeWarning, reason, msg)
}
