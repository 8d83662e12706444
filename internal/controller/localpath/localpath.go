package localpath

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path"
	"sync"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	storagelisters "k8s.io/client-go/listers/storage/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/events"

	"skiff/internal/controller"
	"skiff/internal/controller/reconcile"
)

// Names the provisioner, its nodes and the agents share.
const (
	// Provisioner is the provisioner name StorageClasses give.
	Provisioner = "skiff.io/local-path"
	// NodeLabel on a PV names the node whose agent creates its directory.
	NodeLabel = "skiff.io/local-path-node"
	// StorageDirAnnotation on a Node is the folder its agent keeps
	// local-path volumes in.
	StorageDirAnnotation = "skiff.io/storage-dir"

	annSelectedNode           = "volume.kubernetes.io/selected-node"
	annStorageProvisioner     = "volume.kubernetes.io/storage-provisioner"
	annBetaStorageProvisioner = "volume.beta.kubernetes.io/storage-provisioner"
	annProvisionedBy          = "pv.kubernetes.io/provisioned-by"
	labelHostname             = "kubernetes.io/hostname"
)

// Controller provisions, deletes and expands local-path volumes.
type Controller struct {
	client  kubernetes.Interface
	claims  corelisters.PersistentVolumeClaimLister
	volumes corelisters.PersistentVolumeLister
	classes storagelisters.StorageClassLister
	nodes   corelisters.NodeLister
	events  events.EventRecorder
	logger  *slog.Logger

	claimLoop  *reconcile.Loop
	volumeLoop *reconcile.Loop
}

var _ controller.Controller = (*Controller)(nil)

// New is the controller.Constructor of the local-path provisioner.
func New(cc controller.Context) (controller.Controller, error) {
	pvcInf := cc.Informers.Core().V1().PersistentVolumeClaims()
	pvInf := cc.Informers.Core().V1().PersistentVolumes()
	scInf := cc.Informers.Storage().V1().StorageClasses()
	nodeInf := cc.Informers.Core().V1().Nodes()
	logger := cc.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	c := &Controller{
		client: cc.Client, claims: pvcInf.Lister(), volumes: pvInf.Lister(),
		classes: scInf.Lister(), nodes: nodeInf.Lister(), events: cc.Events, logger: logger,
	}
	c.claimLoop = reconcile.NewLoop("local-path", cc.Clock, logger, c.syncClaim)
	c.volumeLoop = reconcile.NewLoop("local-path-volumes", cc.Clock, logger, c.syncVolume)
	if _, err := pvcInf.Informer().AddEventHandler(reconcile.Handler(func(o any) {
		if pvc, ok := o.(*corev1.PersistentVolumeClaim); ok && ours(pvc.Annotations) {
			c.claimLoop.Enqueue(pvc)
		}
	})); err != nil {
		return nil, fmt.Errorf("local-path: add claim handler: %w", err)
	}
	if _, err := pvInf.Informer().AddEventHandler(reconcile.Handler(func(o any) {
		pv, ok := o.(*corev1.PersistentVolume)
		if !ok || pv.Annotations[annProvisionedBy] != Provisioner {
			return
		}
		c.volumeLoop.Enqueue(pv)
		if ref := pv.Spec.ClaimRef; ref != nil {
			c.claimLoop.Add(ref.Namespace + "/" + ref.Name)
		}
	})); err != nil {
		return nil, fmt.Errorf("local-path: add volume handler: %w", err)
	}
	// A node that gains its storage dir, or a class created late, lets
	// waiting claims proceed.
	requeueWaiting := func(o any) {
		all, _ := c.claims.List(labels.Everything())
		for _, pvc := range all {
			if ours(pvc.Annotations) && pvc.Spec.VolumeName == "" {
				c.claimLoop.Enqueue(pvc)
			}
		}
	}
	if _, err := nodeInf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: requeueWaiting,
		UpdateFunc: func(old, cur any) {
			o, ok1 := old.(*corev1.Node)
			n, ok2 := cur.(*corev1.Node)
			if ok1 && ok2 && o.Annotations[StorageDirAnnotation] != n.Annotations[StorageDirAnnotation] {
				requeueWaiting(n)
			}
		},
	}); err != nil {
		return nil, fmt.Errorf("local-path: add node handler: %w", err)
	}
	if _, err := scInf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{AddFunc: requeueWaiting}); err != nil {
		return nil, fmt.Errorf("local-path: add class handler: %w", err)
	}
	synced := []cache.InformerSynced{pvcInf.Informer().HasSynced, pvInf.Informer().HasSynced,
		scInf.Informer().HasSynced, nodeInf.Informer().HasSynced}
	c.claimLoop.WaitFor(synced...)
	c.volumeLoop.WaitFor(synced...)
	return c, nil
}

// Run runs both loops until ctx is done.
func (c *Controller) Run(ctx context.Context, workers int) error {
	var wg sync.WaitGroup
	errs := make([]error, 2)
	wg.Go(func() { errs[0] = c.claimLoop.Run(ctx, workers) })
	wg.Go(func() { errs[1] = c.volumeLoop.Run(ctx, workers) })
	wg.Wait()
	return errors.Join(errs...)
}

// ours says whether a claim asks skiff.io/local-path to provision it.
func ours(ann map[string]string) bool {
	if v, ok := ann[annStorageProvisioner]; ok {
		return v == Provisioner
	}
	return ann[annBetaStorageProvisioner] == Provisioner
}

// VolumeName is the name of the PV provisioned for a claim, as upstream's
// external provisioner names them.
func VolumeName(claim *corev1.PersistentVolumeClaim) string { return "pvc-" + string(claim.UID) }

// errProvision is a provisioning failure reported on the claim as
// ProvisioningFailed.
type errProvision struct{ msg string }

func (e errProvision) Error() string { return e.msg }

// decide builds the PV for claim on node, or says why it cannot (pure).
func decide(claim *corev1.PersistentVolumeClaim, class *storagev1.StorageClass, node *corev1.Node) (*corev1.PersistentVolume, error) {
	if class.Provisioner != Provisioner {
		return nil, errProvision{fmt.Sprintf("storageclass %q is provisioned by %q, not %s", class.Name, class.Provisioner, Provisioner)}
	}
	if claim.Spec.VolumeMode != nil && *claim.Spec.VolumeMode == corev1.PersistentVolumeBlock {
		return nil, errProvision{fmt.Sprintf("%s supports only volumeMode Filesystem, not %s", Provisioner, corev1.PersistentVolumeBlock)}
	}
	if claim.Spec.DataSource != nil || claim.Spec.DataSourceRef != nil {
		return nil, errProvision{fmt.Sprintf("%s does not support a dataSource", Provisioner)}
	}
	if node == nil {
		return nil, errProvision{fmt.Sprintf("%s requires a selected node (annotation %s): use a StorageClass with volumeBindingMode WaitForFirstConsumer", Provisioner, annSelectedNode)}
	}
	dir := node.Annotations[StorageDirAnnotation]
	if dir == "" || !path.IsAbs(dir) {
		return nil, errProvision{fmt.Sprintf("node %q has no storage directory (annotation %s): is its agent running?", node.Name, StorageDirAnnotation)}
	}
	size, ok := claim.Spec.Resources.Requests[corev1.ResourceStorage]
	if !ok {
		return nil, errProvision{"claim has no storage request"}
	}
	host := node.Labels[labelHostname]
	if host == "" {
		host = node.Name
	}
	reclaim := corev1.PersistentVolumeReclaimDelete
	if class.ReclaimPolicy != nil {
		reclaim = *class.ReclaimPolicy
	}
	fs := corev1.PersistentVolumeFilesystem
	name := VolumeName(claim)
	return &corev1.PersistentVolume{
		ObjectMeta: metav1.ObjectMeta{
			Name:        name,
			Labels:      map[string]string{NodeLabel: node.Name},
			Annotations: map[string]string{annProvisionedBy: Provisioner},
		},
		Spec: corev1.PersistentVolumeSpec{
			Capacity:                      corev1.ResourceList{corev1.ResourceStorage: size.DeepCopy()},
			PersistentVolumeSource:        corev1.PersistentVolumeSource{Local: &corev1.LocalVolumeSource{Path: path.Join(dir, name)}},
			AccessModes:                   append([]corev1.PersistentVolumeAccessMode(nil), claim.Spec.AccessModes...),
			ClaimRef:                      &corev1.ObjectReference{Kind: "PersistentVolumeClaim", APIVersion: "v1", Namespace: claim.Namespace, Name: claim.Name, UID: claim.UID},
			PersistentVolumeReclaimPolicy: reclaim,
			StorageClassName:              class.Name,
			MountOptions:                  append([]string(nil), class.MountOptions...),
			VolumeMode:                    &fs,
			NodeAffinity: &corev1.VolumeNodeAffinity{Required: &corev1.NodeSelector{NodeSelectorTerms: []corev1.NodeSelectorTerm{{
				MatchExpressions: []corev1.NodeSelectorRequirement{{Key: labelHostname, Operator: corev1.NodeSelectorOpIn, Values: []string{host}}},
			}}}},
		},
	}, nil
}

func (c *Controller) syncClaim(ctx context.Context, key string) (reconcile.Result, error) {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return reconcile.Result{}, nil
	}
	claim, err := c.claims.PersistentVolumeClaims(ns).Get(name)
	if apierrors.IsNotFound(err) {
		return reconcile.Result{}, nil
	}
	if err != nil {
		return reconcile.Result{}, err
	}
	if claim.DeletionTimestamp != nil || !ours(claim.Annotations) {
		return reconcile.Result{}, nil
	}
	if claim.Spec.VolumeName != "" {
		return reconcile.Result{}, c.expand(ctx, claim)
	}
	return reconcile.Result{}, c.provision(ctx, claim)
}

func (c *Controller) provision(ctx context.Context, claim *corev1.PersistentVolumeClaim) error {
	pvName := VolumeName(claim)
	if _, err := c.volumes.Get(pvName); err == nil {
		return nil // provisioned; the binder binds it
	}
	className := ""
	if claim.Spec.StorageClassName != nil {
		className = *claim.Spec.StorageClassName
	}
	class, err := c.classes.Get(className)
	if err != nil {
		c.failed(claim, fmt.Sprintf("storageclass.storage.k8s.io %q not found", className))
		return fmt.Errorf("provision claim %s/%s: %w", claim.Namespace, claim.Name, err)
	}
	var node *corev1.Node
	if nodeName, ok := claim.Annotations[annSelectedNode]; ok {
		if node, err = c.nodes.Get(nodeName); err != nil {
			c.failed(claim, fmt.Sprintf("failed to get target node: %v", err))
			return fmt.Errorf("provision claim %s/%s: %w", claim.Namespace, claim.Name, err)
		}
	}
	pv, err := decide(claim, class, node)
	var perr errProvision
	if errors.As(err, &perr) {
		c.failed(claim, perr.msg)
		if node != nil && node.Annotations[StorageDirAnnotation] == "" {
			return nil // the node's update requeues the claim
		}
		return nil // final until the claim or its class changes
	}
	c.events.Eventf(claim, nil, corev1.EventTypeNormal, "Provisioning", "Provision",
		"External provisioner is provisioning volume for claim %q", claim.Namespace+"/"+claim.Name)
	_, err = c.client.CoreV1().PersistentVolumes().Create(ctx, pv, metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		return nil
	}
	if err != nil {
		c.failed(claim, fmt.Sprintf("failed to create volume %s: %v", pv.Name, err))
		return fmt.Errorf("provision claim %s/%s: %w", claim.Namespace, claim.Name, err)
	}
	c.logger.Info("provisioned volume", "claim", claim.Namespace+"/"+claim.Name, "volume", pv.Name, "path", pv.Spec.Local.Path)
	c.events.Eventf(claim, nil, corev1.EventTypeNormal, "ProvisioningSucceeded", "Provision",
		"Successfully provisioned volume %s", pv.Name)
	return nil
}

func (c *Controller) failed(claim *corev1.PersistentVolumeClaim, msg string) {
	c.events.Eventf(claim, nil, corev1.EventTypeWarning, "ProvisioningFailed", "Provision",
		"failed to provision volume with StorageClass %q: %s", ptrString(claim.Spec.StorageClassName), msg)
}

func ptrString(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// expand raises a bound claim's volume to what the claim asks, then
// reports the new capacity on the claim, as upstream's external resizer
// does for a volume that needs no node-side step (the agent raises the
// quota from the PV).
func (c *Controller) expand(ctx context.Context, claim *corev1.PersistentVolumeClaim) error {
	if claim.Status.Phase != corev1.ClaimBound {
		return nil
	}
	pv, err := c.volumes.Get(claim.Spec.VolumeName)
	if err != nil || pv.Annotations[annProvisionedBy] != Provisioner {
		return nil
	}
	want, ok := claim.Spec.Resources.Requests[corev1.ResourceStorage]
	if !ok {
		return nil
	}
	have := claim.Status.Capacity[corev1.ResourceStorage]
	pvSize := pv.Spec.Capacity[corev1.ResourceStorage]
	if want.Cmp(have) <= 0 && pvSize.Cmp(have) <= 0 && !resizing(claim) {
		return nil
	}
	class, err := c.classes.Get(ptrString(claim.Spec.StorageClassName))
	if err != nil || class.AllowVolumeExpansion == nil || !*class.AllowVolumeExpansion {
		return nil
	}
	key := claim.Namespace + "/" + claim.Name
	if want.Cmp(pvSize) > 0 {
		if claim, err = c.markResizing(ctx, claim, want); err != nil {
			return fmt.Errorf("expand claim %s: %w", key, err)
		}
		c.events.Eventf(claim, nil, corev1.EventTypeNormal, "Resizing", "Resize", "External resizer is resizing volume %s", pv.Name)
		fresh, err := c.client.CoreV1().PersistentVolumes().Get(ctx, pv.Name, metav1.GetOptions{})
		if err != nil {
			return fmt.Errorf("expand claim %s: %w", key, err)
		}
		fresh.Spec.Capacity[corev1.ResourceStorage] = want.DeepCopy()
		if _, err := c.client.CoreV1().PersistentVolumes().Update(ctx, fresh, metav1.UpdateOptions{}); err != nil {
			c.events.Eventf(claim, nil, corev1.EventTypeWarning, "VolumeResizeFailed", "Resize", "resize volume %q by resizer %q failed: %v", pv.Name, Provisioner, err)
			return fmt.Errorf("expand claim %s: %w", key, err)
		}
		pvSize = want
	}
	if err := c.markResized(ctx, claim, pvSize); err != nil {
		return fmt.Errorf("expand claim %s: %w", key, err)
	}
	c.events.Eventf(claim, nil, corev1.EventTypeNormal, "VolumeResizeSuccessful", "Resize", "Resize volume succeeded")
	c.logger.Info("expanded volume", "claim", key, "volume", pv.Name, "size", pvSize.String())
	return nil
}

// resizing reports whether the claim shows a resize in progress.
func resizing(claim *corev1.PersistentVolumeClaim) bool {
	for _, cd := range claim.Status.Conditions {
		if cd.Type == corev1.PersistentVolumeClaimResizing {
			return true
		}
	}
	return false
}

// markResizing records on the claim that its volume is being resized to
// size: the Resizing condition and the allocated size, as upstream.
func (c *Controller) markResizing(ctx context.Context, claim *corev1.PersistentVolumeClaim, size resource.Quantity) (*corev1.PersistentVolumeClaim, error) {
	next := claim.DeepCopy()
	setCondition(next, corev1.PersistentVolumeClaimResizing, "")
	next.Status.AllocatedResources = corev1.ResourceList{corev1.ResourceStorage: size.DeepCopy()}
	if next.Status.AllocatedResourceStatuses == nil {
		next.Status.AllocatedResourceStatuses = map[corev1.ResourceName]corev1.ClaimResourceStatus{}
	}
	next.Status.AllocatedResourceStatuses[corev1.ResourceStorage] = corev1.PersistentVolumeClaimControllerResizeInProgress
	return c.client.CoreV1().PersistentVolumeClaims(claim.Namespace).UpdateStatus(ctx, next, metav1.UpdateOptions{})
}

// markResized sets the claim's capacity and clears the resize state.
func (c *Controller) markResized(ctx context.Context, claim *corev1.PersistentVolumeClaim, size resource.Quantity) error {
	next := claim.DeepCopy()
	if next.Status.Capacity == nil {
		next.Status.Capacity = corev1.ResourceList{}
	}
	next.Status.Capacity[corev1.ResourceStorage] = size.DeepCopy()
	next.Status.AllocatedResources = corev1.ResourceList{corev1.ResourceStorage: size.DeepCopy()}
	delete(next.Status.AllocatedResourceStatuses, corev1.ResourceStorage)
	if len(next.Status.AllocatedResourceStatuses) == 0 {
		next.Status.AllocatedResourceStatuses = nil
	}
	var conds []corev1.PersistentVolumeClaimCondition
	for _, cd := range next.Status.Conditions {
		if cd.Type != corev1.PersistentVolumeClaimResizing && cd.Type != corev1.PersistentVolumeClaimFileSystemResizePending {
			conds = append(conds, cd)
		}
	}
	next.Status.Conditions = conds
	_, err := c.client.CoreV1().PersistentVolumeClaims(claim.Namespace).UpdateStatus(ctx, next, metav1.UpdateOptions{})
	return err
}

func setCondition(claim *corev1.PersistentVolumeClaim, t corev1.PersistentVolumeClaimConditionType, msg string) {
	now := metav1.Now()
	for i, cd := range claim.Status.Conditions {
		if cd.Type == t {
			claim.Status.Conditions[i].Status = corev1.ConditionTrue
			claim.Status.Conditions[i].LastProbeTime = now
			return
		}
	}
	claim.Status.Conditions = append(claim.Status.Conditions, corev1.PersistentVolumeClaimCondition{
		Type: t, Status: corev1.ConditionTrue, LastProbeTime: now, LastTransitionTime: now, Message: msg})
}

// syncVolume deletes a released local-path PV whose policy is Delete; its
// node's agent removes the directory once the PV is gone.
func (c *Controller) syncVolume(ctx context.Context, name string) (reconcile.Result, error) {
	pv, err := c.volumes.Get(name)
	if apierrors.IsNotFound(err) {
		return reconcile.Result{}, nil
	}
	if err != nil {
		return reconcile.Result{}, err
	}
	if pv.DeletionTimestamp != nil || pv.Annotations[annProvisionedBy] != Provisioner ||
		pv.Status.Phase != corev1.VolumeReleased || pv.Spec.PersistentVolumeReclaimPolicy != corev1.PersistentVolumeReclaimDelete {
		return reconcile.Result{}, nil
	}
	err = c.client.CoreV1().PersistentVolumes().Delete(ctx, name, metav1.DeleteOptions{
		Preconditions: &metav1.Preconditions{UID: &pv.UID}})
	if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
		return reconcile.Result{}, fmt.Errorf("delete released volume %s: %w", name, err)
	}
	c.logger.Info("deleted released volume", "volume", name)
	return reconcile.Result{}, nil
}
