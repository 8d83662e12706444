package pvcprotection

import (
	"context"
	"fmt"
	"log/slog"
	"slices"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"

	"skiff/internal/controller"
	"skiff/internal/controller/reconcile"
)

// Finalizer protects a PersistentVolumeClaim in use from deletion.
const Finalizer = "kubernetes.io/pvc-protection"

// Controller adds and removes the PVC protection finalizer.
type Controller struct {
	client kubernetes.Interface
	claims corelisters.PersistentVolumeClaimLister
	pods   corelisters.PodLister
	logger *slog.Logger
	loop   *reconcile.Loop
}

var _ controller.Controller = (*Controller)(nil)

// New is the controller.Constructor of the PVC protection controller.
func New(cc controller.Context) (controller.Controller, error) {
	pvcInf := cc.Informers.Core().V1().PersistentVolumeClaims()
	podInf := cc.Informers.Core().V1().Pods()
	c := &Controller{client: cc.Client, claims: pvcInf.Lister(), pods: podInf.Lister(), logger: cc.Logger}
	c.loop = reconcile.NewLoop("persistentvolumeclaim-protection", cc.Clock, cc.Logger, c.sync)
	if _, err := pvcInf.Informer().AddEventHandler(reconcile.Handler(func(o any) {
		if pvc, ok := o.(*corev1.PersistentVolumeClaim); ok && needsWork(pvc) {
			c.loop.Enqueue(pvc)
		}
	})); err != nil {
		return nil, fmt.Errorf("persistentvolumeclaim-protection: add handler: %w", err)
	}
	// A pod that goes away or terminates may free its claims.
	if _, err := podInf.Informer().AddEventHandler(reconcile.Handler(func(o any) {
		p, ok := o.(*corev1.Pod)
		if !ok {
			return
		}
		for _, v := range p.Spec.Volumes {
			if name := claimOf(p, v); name != "" {
				c.loop.Add(p.Namespace + "/" + name)
			}
		}
	})); err != nil {
		return nil, fmt.Errorf("persistentvolumeclaim-protection: add handler: %w", err)
	}
	c.loop.WaitFor(pvcInf.Informer().HasSynced, podInf.Informer().HasSynced)
	return c, nil
}

// Run runs workers until ctx is done.
func (c *Controller) Run(ctx context.Context, workers int) error { return c.loop.Run(ctx, workers) }

func needsWork(pvc *corev1.PersistentVolumeClaim) bool {
	has := slices.Contains(pvc.Finalizers, Finalizer)
	return pvc.DeletionTimestamp != nil && has || pvc.DeletionTimestamp == nil && !has
}

// claimOf is the claim a pod volume uses: its claim, or the claim of a
// generic ephemeral volume (<pod>-<volume>).
func claimOf(p *corev1.Pod, v corev1.Volume) string {
	switch {
	case v.PersistentVolumeClaim != nil:
		return v.PersistentVolumeClaim.ClaimName
	case v.Ephemeral != nil:
		return p.Name + "-" + v.Name
	}
	return ""
}

// podUses reports whether p holds the claim, as upstream decides: any
// scheduled pod that names it, whatever its phase (the kubelet may still
// have it mounted). A generic ephemeral claim is released by its pod once
// the kubelet is done with the pod or it was force-deleted (deletion grace
// period 0), which breaks the cycle of a pod finalizer waiting for its
// claim.
func podUses(p *corev1.Pod, pvc *corev1.PersistentVolumeClaim) bool {
	if p.Namespace != pvc.Namespace || p.Spec.NodeName == "" {
		return false
	}
	shutDown := p.DeletionTimestamp != nil && p.DeletionGracePeriodSeconds != nil && *p.DeletionGracePeriodSeconds == 0
	for _, v := range p.Spec.Volumes {
		if claimOf(p, v) != pvc.Name {
			continue
		}
		if v.Ephemeral != nil && (shutDown || !metav1.IsControlledBy(pvc, p)) {
			continue // done with, or a claim of that name not made for this pod
		}
		return true
	}
	return false
}

func (c *Controller) sync(ctx context.Context, key string) (reconcile.Result, error) {
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
	has := slices.Contains(pvc.Finalizers, Finalizer)
	n := pvc.DeepCopy()
	switch {
	case pvc.DeletionTimestamp != nil && has:
		used, err := c.inUse(ctx, pvc)
		if err != nil || used {
			return reconcile.Result{}, err
		}
		n.Finalizers = slices.DeleteFunc(n.Finalizers, func(f string) bool { return f == Finalizer })
	case pvc.DeletionTimestamp == nil && !has:
		n.Finalizers = append(n.Finalizers, Finalizer)
	default:
		return reconcile.Result{}, nil
	}
	if _, err := c.client.CoreV1().PersistentVolumeClaims(ns).Update(ctx, n, metav1.UpdateOptions{}); err != nil {
		if apierrors.IsConflict(err) || apierrors.IsNotFound(err) {
			return reconcile.Result{}, nil // a newer version's event syncs again
		}
		return reconcile.Result{}, fmt.Errorf("update finalizers of claim %s: %w", key, err)
	}
	if has {
		c.logger.Info("removed the protection finalizer of an unused claim", "claim", key)
	}
	return reconcile.Result{}, nil
}

// inUse asks the pod cache, then the API server (the cache may lag behind
// a pod just created).
func (c *Controller) inUse(ctx context.Context, pvc *corev1.PersistentVolumeClaim) (bool, error) {
	cached, err := c.pods.Pods(pvc.Namespace).List(labels.Everything())
	if err != nil {
		return false, err
	}
	if slices.ContainsFunc(cached, func(p *corev1.Pod) bool { return podUses(p, pvc) }) {
		return true, nil
	}
	live, err := c.client.CoreV1().Pods(pvc.Namespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		return false, fmt.Errorf("list pods of %s: %w", pvc.Namespace, err)
	}
	for i := range live.Items {
		if podUses(&live.Items[i], pvc) {
			return true, nil
		}
	}
	return false, nil
}
