package cronjob

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/kubernetes"
	batchlisters "k8s.io/client-go/listers/batch/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/events"
	"k8s.io/utils/clock"

	"skiff/internal/controller"
	"skiff/internal/controller/reconcile"
)

// ScheduledTimestampAnnotation records on each Job the time it was
// scheduled for, as upstream.
const ScheduledTimestampAnnotation = "batch.kubernetes.io/cronjob-scheduled-timestamp"

var kind = batchv1.SchemeGroupVersion.WithKind("CronJob")

// Controller reconciles CronJobs.
type Controller struct {
	client   kubernetes.Interface
	cronJobs batchlisters.CronJobLister
	jobs     batchlisters.JobLister
	events   events.EventRecorder
	clock    clock.PassiveClock
	loop     *reconcile.Loop
	logger   *slog.Logger
}

var _ controller.Controller = (*Controller)(nil)

// New is the controller.Constructor for the CronJob controller.
func New(cc controller.Context) (controller.Controller, error) {
	cjInf := cc.Informers.Batch().V1().CronJobs()
	jobInf := cc.Informers.Batch().V1().Jobs()
	c := &Controller{client: cc.Client, cronJobs: cjInf.Lister(), jobs: jobInf.Lister(), events: cc.Events,
		clock: cc.Clock, logger: cc.Logger}
	c.loop = reconcile.NewLoop("cronjob", cc.Clock, cc.Logger, c.sync)
	if _, err := cjInf.Informer().AddEventHandler(reconcile.Handler(c.loop.Enqueue)); err != nil {
		return nil, fmt.Errorf("cronjob: add handler: %w", err)
	}
	if _, err := jobInf.Informer().AddEventHandler(reconcile.Handler(func(o any) {
		j, ok := o.(*batchv1.Job)
		if !ok {
			return
		}
		if ref := metav1.GetControllerOf(j); ref != nil && ref.Kind == kind.Kind {
			c.loop.Add(j.Namespace + "/" + ref.Name)
		}
	})); err != nil {
		return nil, fmt.Errorf("cronjob: add handler: %w", err)
	}
	c.loop.WaitFor(cjInf.Informer().HasSynced, jobInf.Informer().HasSynced)
	return c, nil
}

// Run runs workers until ctx is done.
func (c *Controller) Run(ctx context.Context, workers int) error { return c.loop.Run(ctx, workers) }

func finished(j *batchv1.Job) (batchv1.JobConditionType, bool) {
	for _, c := range j.Status.Conditions {
		if (c.Type == batchv1.JobComplete || c.Type == batchv1.JobFailed) && c.Status == corev1.ConditionTrue {
			return c.Type, true
		}
	}
	return "", false
}

// JobName is the name of the Job scheduled at t: the CronJob's name and
// t in minutes since the epoch, so one schedule time makes one Job.
func JobName(cronJob string, t time.Time) string {
	return cronJob + "-" + strconv.FormatInt(t.Unix()/60, 10)
}

func (c *Controller) sync(ctx context.Context, key string) (reconcile.Result, error) {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return reconcile.Result{}, nil
	}
	cj, err := c.cronJobs.CronJobs(ns).Get(name)
	if apierrors.IsNotFound(err) {
		return reconcile.Result{}, nil
	}
	if err != nil {
		return reconcile.Result{}, err
	}
	cj = cj.DeepCopy()
	all, err := c.jobs.Jobs(ns).List(labels.Everything())
	if err != nil {
		return reconcile.Result{}, err
	}
	var owned []*batchv1.Job
	for _, j := range all {
		if ref := metav1.GetControllerOf(j); ref != nil && ref.UID == cj.UID {
			owned = append(owned, j)
		}
	}
	p := decide(cj, owned, c.clock.Now())
	if err := c.prune(ctx, cj, p.prune); err != nil {
		return reconcile.Result{}, err
	}
	return reconcile.Result{RequeueAfter: p.requeueAfter}, c.apply(ctx, cj, p)
}

// prune deletes finished Jobs beyond the history limits.
func (c *Controller) prune(ctx context.Context, cj *batchv1.CronJob, jobs []*batchv1.Job) error {
	for _, j := range jobs {
		bg := metav1.DeletePropagationBackground
		err := c.client.BatchV1().Jobs(cj.Namespace).Delete(ctx, j.Name, metav1.DeleteOptions{PropagationPolicy: &bg})
		if err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("delete job %s/%s: %w", cj.Namespace, j.Name, err)
		}
		c.events.Eventf(cj, nil, corev1.EventTypeNormal, "SuccessfulDelete", "Delete", "Deleted job %s", j.Name)
	}
	return nil
}

// apply performs the rest of p after pruning: events, the deletions a
// Replace policy asks for, the creation, and the status write. A failed
// deletion or creation leaves the status as it was.
func (c *Controller) apply(ctx context.Context, cj *batchv1.CronJob, p plan) error {
	for _, e := range p.events {
		c.events.Eventf(cj, nil, e.eventType, e.reason, e.action, "%s", e.note)
	}
	ns := cj.Namespace
	for _, ref := range p.replace {
		bg := metav1.DeletePropagationBackground
		err := c.client.BatchV1().Jobs(ns).Delete(ctx, ref.Name, metav1.DeleteOptions{PropagationPolicy: &bg})
		if err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("delete job %s/%s: %w", ns, ref.Name, err)
		}
		c.events.Eventf(cj, nil, corev1.EventTypeNormal, "SuccessfulDelete", "Delete", "Deleted job %s", ref.Name)
	}
	if p.create != nil {
		jobName := p.create.Name
		created, err := c.client.BatchV1().Jobs(ns).Create(ctx, p.create, metav1.CreateOptions{})
		if apierrors.IsAlreadyExists(err) {
			created, err = c.client.BatchV1().Jobs(ns).Get(ctx, jobName, metav1.GetOptions{})
			if err == nil {
				if ref := metav1.GetControllerOf(created); ref == nil || ref.UID != cj.UID {
					return fmt.Errorf("create job %s/%s: a job of that name exists and is not owned by the cronjob", ns, jobName)
				}
			}
		} else if err == nil {
			c.events.Eventf(cj, nil, corev1.EventTypeNormal, "SuccessfulCreate", "Create", "Created job %s", jobName)
		}
		if err != nil {
			c.events.Eventf(cj, nil, corev1.EventTypeWarning, "FailedCreate", "Create", "Error creating job: %v", err)
			return fmt.Errorf("create job %s/%s: %w", ns, jobName, err)
		}
		if _, done := finished(created); !done && !inActive(p.status, created) {
			p.status.Active = append(p.status.Active, jobRef(created))
		}
	}
	return c.writeStatus(ctx, cj, p.status)
}

func (c *Controller) writeStatus(ctx context.Context, cj *batchv1.CronJob, st *batchv1.CronJobStatus) error {
	if equality.Semantic.DeepEqual(*st, cj.Status) {
		return nil
	}
	cj.Status = *st
	_, err := c.client.BatchV1().CronJobs(cj.Namespace).UpdateStatus(ctx, cj, metav1.UpdateOptions{})
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("update status of cronjob %s/%s: %w", cj.Namespace, cj.Name, err)
	}
	return nil
}
