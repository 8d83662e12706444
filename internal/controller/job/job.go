package job

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"sort"
	"strconv"
	"sync"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	utilrand "k8s.io/apimachinery/pkg/util/rand"
	"k8s.io/client-go/kubernetes"
	batchlisters "k8s.io/client-go/listers/batch/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/events"
	"k8s.io/utils/clock"

	"skiff/internal/controller"
	"skiff/internal/controller/reconcile"
)

// Condition reasons and messages, as upstream.
const (
	ReasonBackoffLimitExceeded = "BackoffLimitExceeded"
	ReasonDeadlineExceeded     = "DeadlineExceeded"
	ReasonPodFailurePolicy     = "PodFailurePolicy"
	ReasonCompletionsReached   = "CompletionsReached"

	msgBackoffLimit = "Job has reached the specified backoff limit"
	msgDeadline     = "Job was active longer than specified deadline"
	msgCompletions  = "Reached expected number of succeeded pods"
)

var kind = batchv1.SchemeGroupVersion.WithKind("Job")

// Controller reconciles Jobs.
type Controller struct {
	client kubernetes.Interface
	jobs   batchlisters.JobLister
	pods   corelisters.PodLister
	events events.EventRecorder
	clock  clock.PassiveClock
	expect *reconcile.Expectations
	loop   *reconcile.Loop
	logger *slog.Logger

	mu sync.Mutex
	// lastFailure is when this controller last counted a failed pod of a
	// job; it times the backoff before the next pod. It lives in memory,
	// so a restarted controller forgets a pending backoff.
	lastFailure map[types.UID]time.Time
}

var _ controller.Controller = (*Controller)(nil)

// New is the controller.Constructor for the Job controller.
func New(cc controller.Context) (controller.Controller, error) {
	jobInf := cc.Informers.Batch().V1().Jobs()
	podInf := cc.Informers.Core().V1().Pods()
	c := &Controller{
		client: cc.Client, jobs: jobInf.Lister(), pods: podInf.Lister(), events: cc.Events,
		clock: cc.Clock, expect: reconcile.NewExpectations(cc.Clock), logger: cc.Logger,
		lastFailure: map[types.UID]time.Time{},
	}
	c.loop = reconcile.NewLoop("job", cc.Clock, cc.Logger, c.sync)
	if _, err := jobInf.Informer().AddEventHandler(reconcile.Handler(c.loop.Enqueue)); err != nil {
		return nil, fmt.Errorf("job: add handler: %w", err)
	}
	if _, err := podInf.Informer().AddEventHandler(c.loop.OwnedPodHandler(kind.Kind, c.expect)); err != nil {
		return nil, fmt.Errorf("job: add handler: %w", err)
	}
	c.loop.WaitFor(jobInf.Informer().HasSynced, podInf.Informer().HasSynced)
	return c, nil
}

// Run runs workers until ctx is done.
func (c *Controller) Run(ctx context.Context, workers int) error { return c.loop.Run(ctx, workers) }

func hasFinalizer(p *corev1.Pod) bool {
	for _, f := range p.Finalizers {
		if f == batchv1.JobTrackingFinalizer {
			return true
		}
	}
	return false
}

// isFailed counts a pod being deleted before it succeeded as failed, as
// upstream does: an orphan may never reach the Failed phase.
func isFailed(p *corev1.Pod) bool {
	return p.Status.Phase == corev1.PodFailed || p.DeletionTimestamp != nil && p.Status.Phase != corev1.PodSucceeded
}

func isTerminated(p *corev1.Pod) bool {
	return p.Status.Phase == corev1.PodSucceeded || isFailed(p)
}

func finishedCondition(j *batchv1.Job) *batchv1.JobCondition {
	for i, c := range j.Status.Conditions {
		if (c.Type == batchv1.JobComplete || c.Type == batchv1.JobFailed) && c.Status == corev1.ConditionTrue {
			return &j.Status.Conditions[i]
		}
	}
	return nil
}

func condition(j *batchv1.Job, t batchv1.JobConditionType) *batchv1.JobCondition {
	for i, c := range j.Status.Conditions {
		if c.Type == t && c.Status == corev1.ConditionTrue {
			return &j.Status.Conditions[i]
		}
	}
	return nil
}

// setCondition adds or updates a condition, moving its transition time
// only when its status changes.
func setCondition(st *batchv1.JobStatus, t batchv1.JobConditionType, s corev1.ConditionStatus, reason, msg string, now time.Time) {
	for i := range st.Conditions {
		c := &st.Conditions[i]
		if c.Type != t {
			continue
		}
		if c.Status != s {
			c.LastTransitionTime = metav1.NewTime(now)
		}
		c.Status, c.Reason, c.Message, c.LastProbeTime = s, reason, msg, metav1.NewTime(now)
		return
	}
	st.Conditions = append(st.Conditions, batchv1.JobCondition{Type: t, Status: s, Reason: reason, Message: msg,
		LastProbeTime: metav1.NewTime(now), LastTransitionTime: metav1.NewTime(now)})
}

func completionIndex(p *corev1.Pod) int {
	v, ok := p.Annotations[batchv1.JobCompletionIndexAnnotation]
	if !ok {
		v = p.Labels[batchv1.JobCompletionIndexAnnotation]
	}
	i, err := strconv.Atoi(v)
	if err != nil {
		return -1
	}
	return i
}

func indexed(j *batchv1.Job) bool {
	return j.Spec.CompletionMode != nil && *j.Spec.CompletionMode == batchv1.IndexedCompletion
}

func (c *Controller) sync(ctx context.Context, key string) (reconcile.Result, error) {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return reconcile.Result{}, nil
	}
	shared, err := c.jobs.Jobs(ns).Get(name)
	if apierrors.IsNotFound(err) {
		c.expect.Forget(key)
		return reconcile.Result{}, nil
	}
	if err != nil {
		return reconcile.Result{}, err
	}
	job := shared.DeepCopy()
	sel, err := metav1.LabelSelectorAsSelector(job.Spec.Selector)
	if err != nil {
		return reconcile.Result{}, nil
	}
	all, err := c.pods.Pods(ns).List(sel)
	if err != nil {
		return reconcile.Result{}, err
	}
	var pods []*corev1.Pod
	for _, p := range all {
		if ref := metav1.GetControllerOf(p); ref != nil && ref.UID == job.UID {
			pods = append(pods, p)
		}
	}
	if finishedCondition(job) != nil {
		c.mu.Lock()
		delete(c.lastFailure, job.UID)
		c.mu.Unlock()
		return reconcile.Result{}, c.removeFinalizers(ctx, pods)
	}
	now := c.clock.Now()
	st := job.Status.DeepCopy()
	if st.UncountedTerminatedPods == nil {
		st.UncountedTerminatedPods = &batchv1.UncountedTerminatedPods{}
	}

	// Phase 1: record newly terminated pods as uncounted, then release them.
	uncounted := map[types.UID]bool{}
	for _, u := range st.UncountedTerminatedPods.Succeeded {
		uncounted[u] = true
	}
	for _, u := range st.UncountedTerminatedPods.Failed {
		uncounted[u] = true
	}
	var release []*corev1.Pod
	var failJobMsg string
	added := false
	for _, p := range pods {
		if !hasFinalizer(p) || !isTerminated(p) {
			continue
		}
		release = append(release, p)
		if uncounted[p.UID] {
			continue
		}
		if p.Status.Phase == corev1.PodSucceeded {
			st.UncountedTerminatedPods.Succeeded = append(st.UncountedTerminatedPods.Succeeded, p.UID)
			added = true
			continue
		}
		action, msg, matched := matchPodFailurePolicy(job.Spec.PodFailurePolicy, p)
		if matched && action == batchv1.PodFailurePolicyActionIgnore {
			continue // released without counting
		}
		if matched && action == batchv1.PodFailurePolicyActionFailJob && failJobMsg == "" {
			failJobMsg = msg
		}
		st.UncountedTerminatedPods.Failed = append(st.UncountedTerminatedPods.Failed, p.UID)
		added = true
	}
	if failJobMsg != "" && condition(job, batchv1.JobFailureTarget) == nil {
		setCondition(st, batchv1.JobFailureTarget, corev1.ConditionTrue, ReasonPodFailurePolicy, failJobMsg, now)
	}
	if added {
		updated, err := c.writeStatus(ctx, job, st)
		if err != nil {
			return reconcile.Result{}, err
		}
		job = updated
		st = job.Status.DeepCopy()
	}
	released := map[types.UID]bool{}
	var relErr error
	for _, p := range release {
		if err := c.dropFinalizer(ctx, p); err != nil {
			relErr = err
			continue
		}
		released[p.UID] = true
	}
	// Phase 2: count what is released (or gone).
	byUID := map[types.UID]*corev1.Pod{}
	for _, p := range pods {
		byUID[p.UID] = p
	}
	isCounted := func(u types.UID) bool {
		p, ok := byUID[u]
		return !ok || released[u] || !hasFinalizer(p)
	}
	completed := parseIndexes(st.CompletedIndexes)
	var keepS, keepF []types.UID
	newFailures := int32(0)
	for _, u := range st.UncountedTerminatedPods.Succeeded {
		if !isCounted(u) {
			keepS = append(keepS, u)
			continue
		}
		if p, ok := byUID[u]; ok && indexed(job) {
			if i := completionIndex(p); i >= 0 && job.Spec.Completions != nil && i < int(*job.Spec.Completions) && !completed[i] {
				completed[i] = true
				st.Succeeded++
			}
		} else {
			st.Succeeded++
		}
	}
	for _, u := range st.UncountedTerminatedPods.Failed {
		if !isCounted(u) {
			keepF = append(keepF, u)
			continue
		}
		st.Failed++
		newFailures++
	}
	st.UncountedTerminatedPods = &batchv1.UncountedTerminatedPods{Succeeded: keepS, Failed: keepF}
	if indexed(job) {
		st.CompletedIndexes = formatIndexes(completed)
	}
	if newFailures > 0 {
		c.mu.Lock()
		c.lastFailure[job.UID] = now
		c.mu.Unlock()
	}

	// Observe the pods that still run.
	var active []*corev1.Pod
	st.Active, st.Terminating = 0, nil
	var ready, terminating int32
	for _, p := range pods {
		switch {
		case p.DeletionTimestamp != nil && !reconcile.IsPodTerminal(p):
			terminating++
		case reconcile.IsPodActive(p):
			active = append(active, p)
			if reconcile.IsPodReady(p) {
				ready++
			}
		}
	}
	st.Active, st.Ready, st.Terminating = int32(len(active)), &ready, &terminating

	// Suspension.
	suspended := job.Spec.Suspend != nil && *job.Spec.Suspend
	var actErr error
	satisfied := c.expect.Satisfied(key)
	if suspended {
		if condition(job, batchv1.JobSuspended) == nil {
			setCondition(st, batchv1.JobSuspended, corev1.ConditionTrue, "JobSuspended", "Job suspended", now)
			c.events.Eventf(job, nil, corev1.EventTypeNormal, "Suspended", "Suspend", "Job suspended")
		}
		st.StartTime = nil
		if satisfied {
			actErr = c.deletePods(ctx, key, job, active)
		}
		return reconcile.Result{}, c.finish(ctx, job, st, relErr, actErr)
	}
	if condition(job, batchv1.JobSuspended) != nil {
		setCondition(st, batchv1.JobSuspended, corev1.ConditionFalse, "JobResumed", "Job resumed", now)
		c.events.Eventf(job, nil, corev1.EventTypeNormal, "Resumed", "Resume", "Job resumed")
	}
	if st.StartTime == nil {
		t := metav1.NewTime(now)
		st.StartTime = &t
	}

	// Decide whether the job reached its end.
	done := findCondition(st, batchv1.JobFailureTarget) != nil || findCondition(st, batchv1.JobSuccessCriteriaMet) != nil
	if !done {
		if reason, msg := failure(job, st, now); reason != "" {
			setCondition(st, batchv1.JobFailureTarget, corev1.ConditionTrue, reason, msg, now)
			c.events.Eventf(job, nil, corev1.EventTypeWarning, reason, "Fail", msg)
			done = true
		} else if succeeded(job, st) {
			setCondition(st, batchv1.JobSuccessCriteriaMet, corev1.ConditionTrue, ReasonCompletionsReached, msgCompletions, now)
			done = true
		} else if d := job.Spec.ActiveDeadlineSeconds; d != nil {
			c.loop.AddAfter(key, st.StartTime.Add(time.Duration(*d)*time.Second).Sub(now))
		}
	}
	if done {
		if satisfied {
			actErr = c.deletePods(ctx, key, job, active)
		}
		if len(active) == 0 && terminating == 0 && len(keepS)+len(keepF) == 0 {
			if ft := findCondition(st, batchv1.JobFailureTarget); ft != nil {
				setCondition(st, batchv1.JobFailed, corev1.ConditionTrue, ft.Reason, ft.Message, now)
			} else {
				setCondition(st, batchv1.JobComplete, corev1.ConditionTrue, ReasonCompletionsReached, msgCompletions, now)
				t := metav1.NewTime(now)
				st.CompletionTime = &t
				c.events.Eventf(job, nil, corev1.EventTypeNormal, "Completed", "Complete", "Job completed")
			}
		}
		return reconcile.Result{}, c.finish(ctx, job, st, relErr, actErr)
	}
	if satisfied {
		actErr = c.manage(ctx, key, job, st, active, completed, now)
	}
	return reconcile.Result{}, c.finish(ctx, job, st, relErr, actErr)
}

func findCondition(st *batchv1.JobStatus, t batchv1.JobConditionType) *batchv1.JobCondition {
	for i, c := range st.Conditions {
		if c.Type == t && c.Status == corev1.ConditionTrue {
			return &st.Conditions[i]
		}
	}
	return nil
}

func joinErr(errs ...error) error {
	for _, e := range errs {
		if e != nil {
			return e
		}
	}
	return nil
}

// failure returns the FailureTarget reason and message, if any.
func failure(job *batchv1.Job, st *batchv1.JobStatus, now time.Time) (string, string) {
	if job.Spec.BackoffLimit != nil && st.Failed > *job.Spec.BackoffLimit {
		return ReasonBackoffLimitExceeded, msgBackoffLimit
	}
	if d := job.Spec.ActiveDeadlineSeconds; d != nil && st.StartTime != nil &&
		!now.Before(st.StartTime.Add(time.Duration(*d)*time.Second)) {
		return ReasonDeadlineExceeded, msgDeadline
	}
	return "", ""
}

// succeeded reports whether the job met its completions.
func succeeded(job *batchv1.Job, st *batchv1.JobStatus) bool {
	if job.Spec.Completions == nil {
		return st.Succeeded > 0 && st.Active == 0
	}
	return st.Succeeded >= *job.Spec.Completions
}

// manage creates or deletes pods toward the wanted number of active pods.
func (c *Controller) manage(ctx context.Context, key string, job *batchv1.Job, st *batchv1.JobStatus, active []*corev1.Pod, completed map[int]bool, now time.Time) error {
	parallelism := int32(1)
	if job.Spec.Parallelism != nil {
		parallelism = *job.Spec.Parallelism
	}
	var toCreate []int // completion indexes, -1 for NonIndexed
	var toDelete []*corev1.Pod
	if indexed(job) {
		running := map[int]bool{}
		for _, p := range active {
			i := completionIndex(p)
			if i < 0 || i >= int(*job.Spec.Completions) || running[i] || completed[i] {
				toDelete = append(toDelete, p) // duplicate, out of range or done
				continue
			}
			running[i] = true
		}
		room := int(parallelism) - len(running)
		for i := 0; i < int(*job.Spec.Completions) && room > 0; i++ {
			if !completed[i] && !running[i] {
				toCreate = append(toCreate, i)
				room--
			}
		}
		if room < 0 {
			toDelete = append(toDelete, newestFirst(active)[:-room]...)
		}
	} else {
		want := parallelism
		if job.Spec.Completions != nil {
			want = min(want, *job.Spec.Completions-st.Succeeded)
		} else if st.Succeeded > 0 {
			want = 0 // a work queue job: no new pods once one succeeded
		}
		want = max(want, 0)
		diff := int(want) - len(active)
		for range diff {
			toCreate = append(toCreate, -1)
		}
		if diff < 0 {
			toDelete = newestFirst(active)[:-diff]
		}
	}
	if err := c.deletePods(ctx, key, job, toDelete); err != nil {
		return err
	}
	if len(toCreate) == 0 {
		return nil
	}
	c.mu.Lock()
	last, failedBefore := c.lastFailure[job.UID]
	c.mu.Unlock()
	if failedBefore {
		if wait := last.Add(backoff(st.Failed)).Sub(now); wait > 0 {
			c.loop.AddAfter(key, wait)
			return nil
		}
	}
	_, err := reconcile.SlowStart(len(toCreate), func(i int) error {
		return c.createPod(ctx, key, job, toCreate[i])
	})
	return err
}

// newestFirst sorts pods so that the ones to delete first lead: not ready,
// then newest.
func newestFirst(pods []*corev1.Pod) []*corev1.Pod {
	out := append([]*corev1.Pod(nil), pods...)
	sort.SliceStable(out, func(i, j int) bool {
		ri, rj := reconcile.IsPodReady(out[i]), reconcile.IsPodReady(out[j])
		if ri != rj {
			return !ri
		}
		return out[j].CreationTimestamp.Before(&out[i].CreationTimestamp)
	})
	return out
}

// newPod builds a pod from the job template; index < 0 for NonIndexed.
func newPod(job *batchv1.Job, index int) *corev1.Pod {
	t := job.Spec.Template.DeepCopy()
	prefix := job.Name + "-"
	if index >= 0 {
		prefix = fmt.Sprintf("%s-%d-", job.Name, index)
	}
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Name: prefix + utilrand.String(5), GenerateName: prefix, Namespace: job.Namespace,
			Labels: t.Labels, Annotations: t.Annotations, Finalizers: []string{batchv1.JobTrackingFinalizer},
			OwnerReferences: []metav1.OwnerReference{reconcile.ControllerRef(job, kind.GroupVersion().String(), kind.Kind)},
		},
		Spec: t.Spec,
	}
	if index >= 0 {
		if p.Labels == nil {
			p.Labels = map[string]string{}
		}
		if p.Annotations == nil {
			p.Annotations = map[string]string{}
		}
		v := strconv.Itoa(index)
		p.Annotations[batchv1.JobCompletionIndexAnnotation] = v
		p.Labels[batchv1.JobCompletionIndexAnnotation] = v
		if p.Spec.Hostname == "" {
			p.Spec.Hostname = fmt.Sprintf("%s-%d", job.Name, index)
		}
		env := corev1.EnvVar{Name: "JOB_COMPLETION_INDEX", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{
			FieldPath: fmt.Sprintf("metadata.annotations['%s']", batchv1.JobCompletionIndexAnnotation)}}}
		for i := range p.Spec.InitContainers {
			p.Spec.InitContainers[i].Env = append(p.Spec.InitContainers[i].Env, env)
		}
		for i := range p.Spec.Containers {
			p.Spec.Containers[i].Env = append(p.Spec.Containers[i].Env, env)
		}
	}
	return p
}

func (c *Controller) createPod(ctx context.Context, key string, job *batchv1.Job, index int) error {
	p := newPod(job, index)
	c.expect.ExpectCreate(key, p.Name)
	if _, err := c.client.CoreV1().Pods(job.Namespace).Create(ctx, p, metav1.CreateOptions{}); err != nil {
		c.expect.CreationObserved(key, p.Name)
		c.events.Eventf(job, nil, corev1.EventTypeWarning, "FailedCreate", "Create", "Error creating: %v", err)
		return fmt.Errorf("create pod for job %s/%s: %w", job.Namespace, job.Name, err)
	}
	c.events.Eventf(job, nil, corev1.EventTypeNormal, "SuccessfulCreate", "Create", "Created pod: %s", p.Name)
	return nil
}

func (c *Controller) deletePods(ctx context.Context, key string, job *batchv1.Job, pods []*corev1.Pod) error {
	var first error
	for _, p := range pods {
		c.expect.ExpectDelete(key, p.Name)
		err := c.client.CoreV1().Pods(job.Namespace).Delete(ctx, p.Name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &p.UID}})
		if err != nil && !apierrors.IsNotFound(err) {
			c.expect.DeletionObserved(key, p.Name)
			if first == nil {
				first = fmt.Errorf("delete pod %s/%s: %w", p.Namespace, p.Name, err)
			}
			continue
		}
		c.events.Eventf(job, nil, corev1.EventTypeNormal, "SuccessfulDelete", "Delete", "Deleted pod: %s", p.Name)
	}
	return first
}

// dropFinalizer removes the job-tracking finalizer with a JSON patch that
// tests the list first, so a concurrent change is not overwritten.
func (c *Controller) dropFinalizer(ctx context.Context, p *corev1.Pod) error {
	var keep []string
	for _, f := range p.Finalizers {
		if f != batchv1.JobTrackingFinalizer {
			keep = append(keep, f)
		}
	}
	patch, _ := json.Marshal([]map[string]any{
		{"op": "test", "path": "/metadata/finalizers", "value": p.Finalizers},
		{"op": "replace", "path": "/metadata/finalizers", "value": keep},
	})
	_, err := c.client.CoreV1().Pods(p.Namespace).Patch(ctx, p.Name, types.JSONPatchType, patch, metav1.PatchOptions{})
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("remove finalizer from pod %s/%s: %w", p.Namespace, p.Name, err)
	}
	return nil
}

func (c *Controller) removeFinalizers(ctx context.Context, pods []*corev1.Pod) error {
	var first error
	for _, p := range pods {
		if hasFinalizer(p) {
			if err := c.dropFinalizer(ctx, p); err != nil && first == nil {
				first = err
			}
		}
	}
	return first
}

// writeStatus writes st when it differs and returns the job as stored.
func (c *Controller) writeStatus(ctx context.Context, job *batchv1.Job, st *batchv1.JobStatus) (*batchv1.Job, error) {
	if equality.Semantic.DeepEqual(*st, job.Status) {
		return job, nil
	}
	job = job.DeepCopy()
	job.Status = *st
	updated, err := c.client.BatchV1().Jobs(job.Namespace).UpdateStatus(ctx, job, metav1.UpdateOptions{})
	if err != nil {
		return nil, fmt.Errorf("update status of job %s/%s: %w", job.Namespace, job.Name, err)
	}
	return updated, nil
}

func (c *Controller) finish(ctx context.Context, job *batchv1.Job, st *batchv1.JobStatus, errs ...error) error {
	_, err := c.writeStatus(ctx, job, st)
	if apierrors.IsNotFound(err) {
		err = nil
	}
	return joinErr(append([]error{err}, errs...)...)
}
