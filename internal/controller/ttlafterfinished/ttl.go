package ttlafterfinished

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	batchlisters "k8s.io/client-go/listers/batch/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/utils/clock"

	"skiff/internal/controller"
	"skiff/internal/controller/reconcile"
)

// Controller deletes expired finished Jobs.
type Controller struct {
	client kubernetes.Interface
	jobs   batchlisters.JobLister
	clock  clock.PassiveClock
	loop   *reconcile.Loop
	logger *slog.Logger
}

var _ controller.Controller = (*Controller)(nil)

// New is the controller.Constructor for the TTL-after-finished controller.
func New(cc controller.Context) (controller.Controller, error) {
	inf := cc.Informers.Batch().V1().Jobs()
	c := &Controller{client: cc.Client, jobs: inf.Lister(), clock: cc.Clock, logger: cc.Logger}
	c.loop = reconcile.NewLoop("ttl-after-finished", cc.Clock, cc.Logger, c.sync)
	if _, err := inf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(o any) { c.maybeEnqueue(o) },
		UpdateFunc: func(_, o any) { c.maybeEnqueue(o) },
	}); err != nil {
		return nil, fmt.Errorf("ttl-after-finished: add handler: %w", err)
	}
	c.loop.WaitFor(inf.Informer().HasSynced)
	return c, nil
}

// Run runs workers until ctx is done.
func (c *Controller) Run(ctx context.Context, workers int) error { return c.loop.Run(ctx, workers) }

func (c *Controller) maybeEnqueue(o any) {
	if j, ok := o.(*batchv1.Job); ok && j.DeletionTimestamp == nil && j.Spec.TTLSecondsAfterFinished != nil {
		if _, done := finishTime(j); done {
			c.loop.Enqueue(j)
		}
	}
}

// finishTime is when the Job's Complete or Failed condition turned True.
func finishTime(j *batchv1.Job) (time.Time, bool) {
	for _, c := range j.Status.Conditions {
		if (c.Type == batchv1.JobComplete || c.Type == batchv1.JobFailed) && c.Status == corev1.ConditionTrue {
			return c.LastTransitionTime.Time, true
		}
	}
	return time.Time{}, false
}

// expiry is the pure decision: when j expires, and whether it ever does.
func expiry(j *batchv1.Job) (time.Time, bool) {
	if j.DeletionTimestamp != nil || j.Spec.TTLSecondsAfterFinished == nil {
		return time.Time{}, false
	}
	t, done := finishTime(j)
	if !done {
		return time.Time{}, false
	}
	return t.Add(time.Duration(*j.Spec.TTLSecondsAfterFinished) * time.Second), true
}

func (c *Controller) sync(ctx context.Context, key string) (reconcile.Result, error) {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return reconcile.Result{}, nil
	}
	j, err := c.jobs.Jobs(ns).Get(name)
	if apierrors.IsNotFound(err) {
		return reconcile.Result{}, nil
	}
	if err != nil {
		return reconcile.Result{}, err
	}
	at, ok := expiry(j)
	now := c.clock.Now()
	if !ok {
		return reconcile.Result{}, nil
	}
	if now.Before(at) {
		return reconcile.Result{RequeueAfter: at.Sub(now)}, nil
	}
	// The cache may be stale: confirm with a fresh read before deleting.
	fresh, err := c.client.BatchV1().Jobs(ns).Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return reconcile.Result{}, nil
	}
	if err != nil {
		return reconcile.Result{}, fmt.Errorf("get job %s: %w", key, err)
	}
	if at, ok = expiry(fresh); !ok {
		return reconcile.Result{}, nil
	}
	if now.Before(at) {
		return reconcile.Result{RequeueAfter: at.Sub(now)}, nil
	}
	bg := metav1.DeletePropagationForeground
	err = c.client.BatchV1().Jobs(ns).Delete(ctx, name, metav1.DeleteOptions{
		PropagationPolicy: &bg, Preconditions: &metav1.Preconditions{UID: &fresh.UID, ResourceVersion: &fresh.ResourceVersion}})
	if err != nil && !apierrors.IsNotFound(err) {
		return reconcile.Result{}, fmt.Errorf("delete expired job %s: %w", key, err)
	}
	c.logger.Info("deleted finished job after its ttl", "job", key)
	return reconcile.Result{}, nil
}
