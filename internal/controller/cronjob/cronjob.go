package cronjob

import (
	"context"
	"fmt"
	"log/slog"
	"sort"
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
	now := c.clock.Now()
	st := cj.Status.DeepCopy()
	c.reconcileActive(cj, st, owned)
	if err := c.cleanupHistory(ctx, cj, owned); err != nil {
		return reconcile.Result{}, err
	}
	if cj.DeletionTimestamp != nil || cj.Spec.Suspend != nil && *cj.Spec.Suspend {
		return reconcile.Result{}, c.writeStatus(ctx, cj, st)
	}
	sched, err := parseSchedule(cj.Spec.Schedule, cj.Spec.TimeZone)
	if err != nil {
		c.events.Eventf(cj, nil, corev1.EventTypeWarning, "UnparseableSchedule", "Schedule", "unparseable schedule: %q : %s", cj.Spec.Schedule, err)
		return reconcile.Result{}, c.writeStatus(ctx, cj, st) // nothing to retry until the spec changes
	}
	earliest := cj.CreationTimestamp.Time
	if st.LastScheduleTime != nil {
		earliest = st.LastScheduleTime.Time
	}
	if d := cj.Spec.StartingDeadlineSeconds; d != nil {
		if floor := now.Add(-time.Duration(*d) * time.Second); floor.After(earliest) {
			earliest = floor
		}
	}
	scheduled, ok, next, err := mostRecent(sched, earliest, now)
	if err != nil {
		c.events.Eventf(cj, nil, corev1.EventTypeWarning, "TooManyMissedTimes", "Schedule",
			"too many missed start times. Set or decrease .spec.startingDeadlineSeconds or check clock skew")
	}
	// Wake up just after the next schedule time, whatever happens now.
	res := reconcile.Result{RequeueAfter: next.Sub(now) + 100*time.Millisecond}
	if !ok {
		return res, c.writeStatus(ctx, cj, st)
	}
	if d := cj.Spec.StartingDeadlineSeconds; d != nil && scheduled.Add(time.Duration(*d)*time.Second).Before(now) {
		c.events.Eventf(cj, nil, corev1.EventTypeWarning, "MissedSchedule", "Schedule",
			"Missed scheduled time to start a job: %s", scheduled.UTC().Format(time.RFC1123Z))
		return res, c.writeStatus(ctx, cj, st)
	}
	jobName := JobName(cj.Name, scheduled)
	for _, j := range owned {
		if j.Name == jobName {
			// Already started for this time (a retry after a lost status write).
			t := metav1.NewTime(scheduled)
			st.LastScheduleTime = &t
			return res, c.writeStatus(ctx, cj, st)
		}
	}
	switch cj.Spec.ConcurrencyPolicy {
	case batchv1.ForbidConcurrent:
		if len(st.Active) > 0 {
			c.events.Eventf(cj, nil, corev1.EventTypeNormal, "JobAlreadyActive", "Schedule",
				"Not starting job because prior execution is running and concurrency policy is Forbid")
			return res, c.writeStatus(ctx, cj, st)
		}
	case batchv1.ReplaceConcurrent:
		for _, ref := range st.Active {
			bg := metav1.DeletePropagationBackground
			err := c.client.BatchV1().Jobs(ns).Delete(ctx, ref.Name, metav1.DeleteOptions{PropagationPolicy: &bg})
			if err != nil && !apierrors.IsNotFound(err) {
				return res, fmt.Errorf("delete job %s/%s: %w", ns, ref.Name, err)
			}
			c.events.Eventf(cj, nil, corev1.EventTypeNormal, "SuccessfulDelete", "Delete", "Deleted job %s", ref.Name)
		}
		st.Active = nil
	}
	job := newJob(cj, jobName, scheduled)
	created, err := c.client.BatchV1().Jobs(ns).Create(ctx, job, metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		created, err = c.client.BatchV1().Jobs(ns).Get(ctx, jobName, metav1.GetOptions{})
		if err == nil {
			if ref := metav1.GetControllerOf(created); ref == nil || ref.UID != cj.UID {
				return res, fmt.Errorf("create job %s/%s: a job of that name exists and is not owned by the cronjob", ns, jobName)
			}
		}
	} else if err == nil {
		c.events.Eventf(cj, nil, corev1.EventTypeNormal, "SuccessfulCreate", "Create", "Created job %s", jobName)
	}
	if err != nil {
		c.events.Eventf(cj, nil, corev1.EventTypeWarning, "FailedCreate", "Create", "Error creating job: %v", err)
		return res, fmt.Errorf("create job %s/%s: %w", ns, jobName, err)
	}
	if _, done := finished(created); !done && !inActive(st, created) {
		st.Active = append(st.Active, jobRef(created))
	}
	t := metav1.NewTime(scheduled)
	st.LastScheduleTime = &t
	return res, c.writeStatus(ctx, cj, st)
}

func inActive(st *batchv1.CronJobStatus, j *batchv1.Job) bool {
	for _, r := range st.Active {
		if r.UID == j.UID {
			return true
		}
	}
	return false
}

func jobRef(j *batchv1.Job) corev1.ObjectReference {
	return corev1.ObjectReference{Kind: "Job", APIVersion: "batch/v1", Namespace: j.Namespace, Name: j.Name,
		UID: j.UID, ResourceVersion: j.ResourceVersion}
}

// reconcileActive makes status.active list exactly the owned unfinished
// Jobs and records the newest successful completion.
func (c *Controller) reconcileActive(cj *batchv1.CronJob, st *batchv1.CronJobStatus, owned []*batchv1.Job) {
	byUID := map[string]*batchv1.Job{}
	for _, j := range owned {
		byUID[string(j.UID)] = j
	}
	var active []corev1.ObjectReference
	for _, r := range st.Active {
		j, ok := byUID[string(r.UID)]
		if !ok {
			continue // deleted
		}
		if _, done := finished(j); done {
			continue
		}
		active = append(active, r)
	}
	st.Active = active
	for _, j := range owned {
		typ, done := finished(j)
		if !done && !inActive(st, j) {
			st.Active = append(st.Active, jobRef(j))
		}
		if typ == batchv1.JobComplete && j.Status.CompletionTime != nil &&
			(st.LastSuccessfulTime == nil || j.Status.CompletionTime.After(st.LastSuccessfulTime.Time)) {
			t := *j.Status.CompletionTime
			st.LastSuccessfulTime = &t
		}
	}
	sort.Slice(st.Active, func(i, k int) bool { return st.Active[i].Name < st.Active[k].Name })
}

// cleanupHistory deletes the oldest finished Jobs beyond the limits.
func (c *Controller) cleanupHistory(ctx context.Context, cj *batchv1.CronJob, owned []*batchv1.Job) error {
	limits := map[batchv1.JobConditionType]int{batchv1.JobComplete: 3, batchv1.JobFailed: 1}
	if cj.Spec.SuccessfulJobsHistoryLimit != nil {
		limits[batchv1.JobComplete] = int(*cj.Spec.SuccessfulJobsHistoryLimit)
	}
	if cj.Spec.FailedJobsHistoryLimit != nil {
		limits[batchv1.JobFailed] = int(*cj.Spec.FailedJobsHistoryLimit)
	}
	byType := map[batchv1.JobConditionType][]*batchv1.Job{}
	for _, j := range owned {
		if typ, done := finished(j); done && j.DeletionTimestamp == nil {
			byType[typ] = append(byType[typ], j)
		}
	}
	for typ, jobs := range byType {
		sort.Slice(jobs, func(i, k int) bool { return startOf(jobs[i]).Before(startOf(jobs[k])) })
		for i := 0; i < len(jobs)-limits[typ]; i++ {
			bg := metav1.DeletePropagationBackground
			err := c.client.BatchV1().Jobs(cj.Namespace).Delete(ctx, jobs[i].Name, metav1.DeleteOptions{PropagationPolicy: &bg})
			if err != nil && !apierrors.IsNotFound(err) {
				return fmt.Errorf("delete job %s/%s: %w", cj.Namespace, jobs[i].Name, err)
			}
			c.events.Eventf(cj, nil, corev1.EventTypeNormal, "SuccessfulDelete", "Delete", "Deleted job %s", jobs[i].Name)
		}
	}
	return nil
}

func startOf(j *batchv1.Job) time.Time {
	if j.Status.StartTime != nil {
		return j.Status.StartTime.Time
	}
	return j.CreationTimestamp.Time
}

func newJob(cj *batchv1.CronJob, name string, scheduled time.Time) *batchv1.Job {
	t := cj.Spec.JobTemplate.DeepCopy()
	ann := map[string]string{}
	for k, v := range t.Annotations {
		ann[k] = v
	}
	loc := time.Local
	if cj.Spec.TimeZone != nil {
		if l, err := time.LoadLocation(*cj.Spec.TimeZone); err == nil {
			loc = l
		}
	}
	ann[ScheduledTimestampAnnotation] = scheduled.In(loc).Format(time.RFC3339)
	return &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{
			Name: name, Namespace: cj.Namespace, Labels: t.Labels, Annotations: ann,
			OwnerReferences: []metav1.OwnerReference{reconcile.ControllerRef(cj, kind.GroupVersion().String(), kind.Kind)},
		},
		Spec: t.Spec,
	}
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
