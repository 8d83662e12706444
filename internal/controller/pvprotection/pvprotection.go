package pvprotection

import (
	"context"
	"fmt"
	"log/slog"
	"slices"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"

	"skiff/internal/controller"
	"skiff/internal/controller/reconcile"
)

// Finalizer protects a PersistentVolume in use from deletion.
const Finalizer = "kubernetes.io/pv-protection"

// Controller adds and removes the PV protection finalizer.
type Controller struct {
	client  kubernetes.Interface
	volumes corelisters.PersistentVolumeLister
	logger  *slog.Logger
	loop    *reconcile.Loop
}

var _ controller.Controller = (*Controller)(nil)

// New is the controller.Constructor of the PV protection controller.
func New(cc controller.Context) (controller.Controller, error) {
	inf := cc.Informers.Core().V1().PersistentVolumes()
	c := &Controller{client: cc.Client, volumes: inf.Lister(), logger: cc.Logger}
	c.loop = reconcile.NewLoop("persistentvolume-protection", cc.Clock, cc.Logger, c.sync)
	if _, err := inf.Informer().AddEventHandler(reconcile.Handler(func(o any) {
		if pv, ok := o.(*corev1.PersistentVolume); ok && decide(pv) != keep {
			c.loop.Enqueue(pv)
		}
	})); err != nil {
		return nil, fmt.Errorf("persistentvolume-protection: add handler: %w", err)
	}
	c.loop.WaitFor(inf.Informer().HasSynced)
	return c, nil
}

// Run runs workers until ctx is done.
func (c *Controller) Run(ctx context.Context, workers int) error { return c.loop.Run(ctx, workers) }

type action int

const (
	keep action = iota
	addFinalizer
	removeFinalizer
)

// decide is the pure decision for one volume.
func decide(pv *corev1.PersistentVolume) action {
	has := slices.Contains(pv.Finalizers, Finalizer)
	switch {
	case pv.DeletionTimestamp != nil && has && pv.Status.Phase != corev1.VolumeBound:
		return removeFinalizer
	case pv.DeletionTimestamp == nil && !has:
		return addFinalizer
	}
	return keep
}

func (c *Controller) sync(ctx context.Context, key string) (reconcile.Result, error) {
	pv, err := c.volumes.Get(key)
	if apierrors.IsNotFound(err) {
		return reconcile.Result{}, nil
	}
	if err != nil {
		return reconcile.Result{}, err
	}
	n := pv.DeepCopy()
	switch decide(pv) {
	case keep:
		return reconcile.Result{}, nil
	case addFinalizer:
		n.Finalizers = append(n.Finalizers, Finalizer)
	case removeFinalizer:
		n.Finalizers = slices.DeleteFunc(n.Finalizers, func(f string) bool { return f == Finalizer })
	}
	if _, err := c.client.CoreV1().PersistentVolumes().Update(ctx, n, metav1.UpdateOptions{}); err != nil {
		if apierrors.IsConflict(err) || apierrors.IsNotFound(err) {
			return reconcile.Result{}, nil // a newer version's event syncs again
		}
		return reconcile.Result{}, fmt.Errorf("update finalizers of volume %s: %w", key, err)
	}
	return reconcile.Result{}, nil
}
