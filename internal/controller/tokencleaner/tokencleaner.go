// Package tokencleaner deletes expired bootstrap tokens, as upstream's
// token cleaner does: a Secret of type bootstrap.kubernetes.io/token in
// kube-system whose expiration has passed is deleted, and one that has not
// expired yet is looked at again when it does.
package tokencleaner

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/utils/clock"

	"skiff/internal/controller"
	"skiff/internal/controller/reconcile"
	"skiff/internal/pki"
)

// Controller deletes expired bootstrap token Secrets.
type Controller struct {
	client   kubernetes.Interface
	secrets  corelisters.SecretLister
	informer cache.SharedIndexInformer
	clock    clock.PassiveClock
	loop     *reconcile.Loop
	logger   *slog.Logger
}

var _ controller.Controller = (*Controller)(nil)

// New is the controller.Constructor. It watches only kube-system's
// bootstrap token Secrets, not every Secret of the cluster.
func New(cc controller.Context) (controller.Controller, error) {
	f := informers.NewSharedInformerFactoryWithOptions(cc.Client, 0,
		informers.WithNamespace(metav1.NamespaceSystem),
		informers.WithTweakListOptions(func(o *metav1.ListOptions) {
			o.FieldSelector = fields.OneTermEqualSelector("type", string(pki.BootstrapTokenSecretType)).String()
		}))
	inf := f.Core().V1().Secrets()
	c := &Controller{client: cc.Client, secrets: inf.Lister(), informer: inf.Informer(), clock: cc.Clock, logger: cc.Logger}
	c.loop = reconcile.NewLoop("token-cleaner", cc.Clock, cc.Logger, c.sync)
	if _, err := c.informer.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    c.loop.Enqueue,
		UpdateFunc: func(_, o any) { c.loop.Enqueue(o) },
	}); err != nil {
		return nil, fmt.Errorf("token-cleaner: add handler: %w", err)
	}
	c.loop.WaitFor(c.informer.HasSynced)
	return c, nil
}

// Run runs the informer and workers until ctx is done.
func (c *Controller) Run(ctx context.Context, workers int) error {
	go c.informer.Run(ctx.Done())
	return c.loop.Run(ctx, workers)
}

// Expiry is when a bootstrap token Secret expires; false if it never does
// (no expiration, or one that does not parse, which upstream keeps too).
func Expiry(s *corev1.Secret) (time.Time, bool) {
	raw := string(s.Data[pki.BootstrapTokenExpirationKey])
	if raw == "" {
		return time.Time{}, false
	}
	t, err := time.Parse(time.RFC3339, raw)
	if err != nil {
		return time.Time{}, false
	}
	return t, true
}

func (c *Controller) sync(ctx context.Context, key string) (reconcile.Result, error) {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return reconcile.Result{}, nil
	}
	s, err := c.secrets.Secrets(ns).Get(name)
	if apierrors.IsNotFound(err) {
		return reconcile.Result{}, nil
	}
	if err != nil {
		return reconcile.Result{}, err
	}
	at, ok := Expiry(s)
	if !ok || s.DeletionTimestamp != nil {
		return reconcile.Result{}, nil
	}
	if now := c.clock.Now(); now.Before(at) {
		return reconcile.Result{RequeueAfter: at.Sub(now)}, nil
	}
	err = c.client.CoreV1().Secrets(ns).Delete(ctx, name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &s.UID}})
	if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
		return reconcile.Result{}, fmt.Errorf("delete expired bootstrap token %s: %w", key, err)
	}
	c.logger.Info("deleted an expired bootstrap token", "secret", key)
	return reconcile.Result{}, nil
}
