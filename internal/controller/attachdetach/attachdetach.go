package attachdetach

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	storagelisters "k8s.io/client-go/listers/storage/v1"
	"k8s.io/client-go/tools/cache"

	"skiff/internal/controller"
	"skiff/internal/controller/reconcile"
)

// nodeIndex indexes pods and VolumeAttachments by node name.
const nodeIndex = "attachdetach-node"

// Controller creates and deletes the VolumeAttachments of CSI volumes.
type Controller struct {
	client      kubernetes.Interface
	pods        cache.Indexer
	attachments cache.Indexer
	claims      corelisters.PersistentVolumeClaimLister
	volumes     corelisters.PersistentVolumeLister
	drivers     storagelisters.CSIDriverLister
	nodes       corelisters.NodeLister
	loop        *reconcile.Loop
	logger      *slog.Logger
}

var _ controller.Controller = (*Controller)(nil)

// New is the controller.Constructor of the attach/detach controller.
func New(cc controller.Context) (controller.Controller, error) {
	podInf := cc.Informers.Core().V1().Pods()
	vaInf := cc.Informers.Storage().V1().VolumeAttachments()
	pvcInf := cc.Informers.Core().V1().PersistentVolumeClaims()
	pvInf := cc.Informers.Core().V1().PersistentVolumes()
	drvInf := cc.Informers.Storage().V1().CSIDrivers()
	nodeInf := cc.Informers.Core().V1().Nodes()
	c := &Controller{
		client:      cc.Client,
		pods:        podInf.Informer().GetIndexer(),
		attachments: vaInf.Informer().GetIndexer(),
		claims:      pvcInf.Lister(),
		volumes:     pvInf.Lister(),
		drivers:     drvInf.Lister(),
		nodes:       nodeInf.Lister(),
		logger:      cc.Logger,
	}
	c.loop = reconcile.NewLoop("attachdetach", cc.Clock, cc.Logger, c.sync)
	byNode := cache.Indexers{nodeIndex: func(obj any) ([]string, error) {
		switch o := obj.(type) {
		case *corev1.Pod:
			if o.Spec.NodeName != "" {
				return []string{o.Spec.NodeName}, nil
			}
		case *storagev1.VolumeAttachment:
			return []string{o.Spec.NodeName}, nil
		}
		return nil, nil
	}}
	if err := podInf.Informer().AddIndexers(byNode); err != nil {
		return nil, fmt.Errorf("attachdetach: add pod index: %w", err)
	}
	if err := vaInf.Informer().AddIndexers(byNode); err != nil {
		return nil, fmt.Errorf("attachdetach: add volumeattachment index: %w", err)
	}
	handlers := []struct {
		inf     cache.SharedIndexInformer
		enqueue func(any)
	}{
		{podInf.Informer(), c.enqueuePodNode},
		{vaInf.Informer(), c.enqueueAttachmentNode},
		{nodeInf.Informer(), func(o any) { c.loop.Enqueue(o) }},
		// A claim bound, a volume or driver changed: any node may care.
		{pvcInf.Informer(), c.enqueueClaimNodes},
		{pvInf.Informer(), func(any) { c.enqueueAllNodes() }},
		{drvInf.Informer(), func(any) { c.enqueueAllNodes() }},
	}
	for _, h := range handlers {
		f := h.enqueue
		if _, err := h.inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
			AddFunc:    f,
			UpdateFunc: func(_, o any) { f(o) },
			DeleteFunc: f,
		}); err != nil {
			return nil, fmt.Errorf("attachdetach: add handler: %w", err)
		}
		c.loop.WaitFor(h.inf.HasSynced)
	}
	return c, nil
}

// Run runs workers until ctx is done.
func (c *Controller) Run(ctx context.Context, workers int) error { return c.loop.Run(ctx, workers) }

func unwrap(o any) any {
	if t, ok := o.(cache.DeletedFinalStateUnknown); ok {
		return t.Obj
	}
	return o
}

func (c *Controller) enqueuePodNode(o any) {
	if p, ok := unwrap(o).(*corev1.Pod); ok && p.Spec.NodeName != "" {
		c.loop.Add(p.Spec.NodeName)
	}
}

func (c *Controller) enqueueAttachmentNode(o any) {
	if va, ok := unwrap(o).(*storagev1.VolumeAttachment); ok {
		c.loop.Add(va.Spec.NodeName)
	}
}

// enqueueClaimNodes queues the nodes of the pods in the claim's namespace
// that use it.
func (c *Controller) enqueueClaimNodes(o any) {
	pvc, ok := unwrap(o).(*corev1.PersistentVolumeClaim)
	if !ok {
		return
	}
	objs, _ := c.pods.ByIndex(cache.NamespaceIndex, pvc.Namespace)
	for _, obj := range objs {
		p := obj.(*corev1.Pod)
		for _, v := range p.Spec.Volumes {
			if v.PersistentVolumeClaim != nil && v.PersistentVolumeClaim.ClaimName == pvc.Name {
				c.enqueuePodNode(p)
			}
		}
	}
}

func (c *Controller) enqueueAllNodes() {
	for _, n := range c.pods.ListIndexFuncValues(nodeIndex) {
		c.loop.Add(n)
	}
	for _, n := range c.attachments.ListIndexFuncValues(nodeIndex) {
		c.loop.Add(n)
	}
}

func (c *Controller) sync(ctx context.Context, node string) (reconcile.Result, error) {
	s := state{
		node: node,
		claim: func(ns, name string) *corev1.PersistentVolumeClaim {
			pvc, _ := c.claims.PersistentVolumeClaims(ns).Get(name)
			return pvc
		},
		volume: func(name string) *corev1.PersistentVolume {
			pv, _ := c.volumes.Get(name)
			return pv
		},
		driver: func(name string) *storagev1.CSIDriver {
			d, _ := c.drivers.Get(name)
			return d
		},
	}
	objs, err := c.pods.ByIndex(nodeIndex, node)
	if err != nil {
		return reconcile.Result{}, err
	}
	for _, o := range objs {
		s.pods = append(s.pods, o.(*corev1.Pod))
	}
	if objs, err = c.attachments.ByIndex(nodeIndex, node); err != nil {
		return reconcile.Result{}, err
	}
	for _, o := range objs {
		s.attachments = append(s.attachments, o.(*storagev1.VolumeAttachment))
	}
	n, err := c.nodes.Get(node)
	if err != nil && !apierrors.IsNotFound(err) {
		return reconcile.Result{}, err
	}
	if n != nil {
		s.inUse = n.Status.VolumesInUse
	}
	p := decide(s)
	var errs []error
	for _, va := range p.create {
		_, err := c.client.StorageV1().VolumeAttachments().Create(ctx, va, metav1.CreateOptions{})
		if err != nil && !apierrors.IsAlreadyExists(err) {
			errs = append(errs, fmt.Errorf("create volumeattachment %s: %w", va.Name, err))
			continue
		}
		c.logger.Info("created volumeattachment", "volumeattachment", va.Name, "node", node, "driver", va.Spec.Attacher)
	}
	for _, name := range p.delete {
		err := c.client.StorageV1().VolumeAttachments().Delete(ctx, name, metav1.DeleteOptions{})
		if err != nil && !apierrors.IsNotFound(err) {
			errs = append(errs, fmt.Errorf("delete volumeattachment %s: %w", name, err))
			continue
		}
		c.logger.Info("deleted volumeattachment", "volumeattachment", name, "node", node)
	}
	if n != nil && !sameAttached(n.Status.VolumesAttached, p.attached) {
		if err := c.patchAttached(ctx, n, p.attached); err != nil && !apierrors.IsNotFound(err) {
			errs = append(errs, err)
		}
	}
	return reconcile.Result{}, errors.Join(errs...)
}

// patchAttached writes the node's status.volumesAttached.
func (c *Controller) patchAttached(ctx context.Context, n *corev1.Node, attached []corev1.AttachedVolume) error {
	if attached == nil {
		attached = []corev1.AttachedVolume{}
	}
	patch, err := json.Marshal(map[string]any{"status": map[string]any{"volumesAttached": attached}})
	if err != nil {
		return err
	}
	if _, err := c.client.CoreV1().Nodes().Patch(ctx, n.Name, types.MergePatchType, patch, metav1.PatchOptions{}, "status"); err != nil {
		return fmt.Errorf("update volumesAttached of node %s: %w", n.Name, err)
	}
	return nil
}

func sameAttached(a, b []corev1.AttachedVolume) bool {
	return slices.EqualFunc(a, b, func(x, y corev1.AttachedVolume) bool { return x.Name == y.Name && x.DevicePath == y.DevicePath })
}
