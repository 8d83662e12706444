package job

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
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

	msgBackoffLimit     = "Job has reached the specified backoff limit"
	msgDeadline         = "Job was active longer than specified deadline"
	msgCompletions      = "Reached expected number of succeeded pods"
	msgFailedIndexes    = "Job has failed indexes"
	msgMaxFailedIndexes = "Job has exceeded the specified maximal number of failed indexes"
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
	if _, err := podInf.Informer().AddEventHandler(c.orphanHandler()); err != nil {
		return nil, fmt.Errorf("job: add handler: %w", err)
	}
	c.loop.WaitFor(jobInf.Informer().HasSynced, podInf.Informer().HasSynced)
	return c, nil
}

// orphanHandler queues the jobs that may adopt a pod without a
// controller (those whose selector matches it) and the job a pod was just
// orphaned from.
func (c *Controller) orphanHandler() cache.ResourceEventHandlerFuncs {
	matching := func(p *corev1.Pod) {
		if metav1.GetControllerOfNoCopy(p) != nil || p.DeletionTimestamp != nil {
			return
		}
		jobs, err := c.jobs.Jobs(p.Namespace).List(labels.Everything())
		if err != nil {
			return
		}
		for _, j := range jobs {
			sel, err := metav1.LabelSelectorAsSelector(j.Spec.Selector)
			if err == nil && !sel.Empty() && sel.Matches(labels.Set(p.Labels)) {
				c.loop.Add(j.Namespace + "/" + j.Name)
			}
		}
	}
	return cache.ResourceEventHandlerFuncs{
		AddFunc: func(o any) {
			if p, ok := o.(*corev1.Pod); ok {
				matching(p)
			}
		},
		UpdateFunc: func(old, cur any) {
			op, ok1 := old.(*corev1.Pod)
			np, ok2 := cur.(*corev1.Pod)
			if !ok1 || !ok2 {
				return
			}
			if ref := metav1.GetControllerOfNoCopy(op); ref != nil && ref.Kind == kind.Kind {
				if nref := metav1.GetControllerOfNoCopy(np); nref == nil || nref.UID != ref.UID {
					c.loop.Add(op.Namespace + "/" + ref.Name)
				}
			}
			matching(np)
		},
	}
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
// upstream does (an orphan may never reach the Failed phase), unless the
// job replaces only pods that reached it.
func isFailed(job *batchv1.Job, p *corev1.Pod) bool {
	if p.Status.Phase == corev1.PodFailed {
		return true
	}
	if p.DeletionTimestamp == nil || p.Status.Phase == corev1.PodSucceeded {
		return false
	}
	return !onlyReplaceFailed(job) || stoppedAfterDeletion(p)
}

// stoppedAfterDeletion reports whether a pod being deleted no longer runs
// anything. Upstream's kubelet moves such a pod to the Failed phase; this
// cluster's agent may leave it in the phase it last reported (Pending,
// containers waiting), so that is taken as the end of the pod.
func stoppedAfterDeletion(p *corev1.Pod) bool {
	if p.DeletionTimestamp == nil || p.Status.Phase == corev1.PodRunning || p.Status.Phase == corev1.PodSucceeded {
		return false
	}
	for _, st := range append(append([]corev1.ContainerStatus(nil), p.Status.InitContainerStatuses...), p.Status.ContainerStatuses...) {
		if st.State.Running != nil {
			return false
		}
	}
	return true
}

func isTerminated(job *batchv1.Job, p *corev1.Pod) bool {
	return p.Status.Phase == corev1.PodSucceeded || isFailed(job, p)
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
		return reconcile.Result{}, c.releaseLeftovers(ctx, ns, name, "")
	}
	if err != nil {
		return reconcile.Result{}, err
	}
	job := shared.DeepCopy()
	sel, err := metav1.LabelSelectorAsSelector(job.Spec.Selector)
	if err != nil {
		return reconcile.Result{}, nil
	}
	if m := job.Spec.ManagedBy; m != nil && *m != batchv1.JobControllerName {
		return reconcile.Result{}, nil // another controller runs it
	}
	// A job being deleted lets its pods go, as a finished one does.
	finished := finishedCondition(job) != nil || job.DeletionTimestamp != nil
	pods, err := c.claimPods(ctx, job, sel, !finished)
	if err != nil {
		return reconcile.Result{}, err
	}
	if finished {
		c.mu.Lock()
		delete(c.lastFailure, job.UID)
		c.mu.Unlock()
		return reconcile.Result{}, c.removeFinalizers(ctx, pods)
	}
	now := c.clock.Now()

	// Step 1: record newly terminated pods as uncounted, then release them.
	tp := decideTracking(job, pods, now)
	st := tp.status
	if tp.write {
		updated, err := c.writeStatus(ctx, job, st)
		if err != nil {
			return reconcile.Result{}, err
		}
		job, st = updated, updated.Status.DeepCopy()
	}
	released := map[types.UID]bool{}
	var relErr error
	for _, p := range tp.release {
		if err := c.dropFinalizer(ctx, p); err != nil {
			relErr = err
			continue
		}
		released[p.UID] = true
	}

	// Step 2: count, then act on what the counts say.
	c.mu.Lock()
	last := c.lastFailure[job.UID]
	c.mu.Unlock()
	p := decide(observed{job: job, status: st, pods: pods, released: released, lastFailure: last,
		expectationsMet: c.expect.Satisfied(key)}, now)
	return reconcile.Result{RequeueAfter: p.requeueAfter}, c.apply(ctx, key, job, p, relErr)
}

// claimPods returns the job's pods: those it controls that match its
// selector and, when adopt is set, matching orphans it adopts (adding the
// tracking finalizer to the unfinished ones, so they are counted). Pods it
// controls that stopped matching are released, their finalizer removed.
func (c *Controller) claimPods(ctx context.Context, job *batchv1.Job, sel labels.Selector, adopt bool) ([]*corev1.Pod, error) {
	all, err := c.pods.Pods(job.Namespace).List(labels.Everything())
	if err != nil {
		return nil, err
	}
	var pods []*corev1.Pod
	var first error
	ref := reconcile.ControllerRef(job, kind.GroupVersion().String(), kind.Kind)
	for _, p := range all {
		switch reconcile.Claim(job, sel, p) {
		case reconcile.Keep:
			pods = append(pods, p)
		case reconcile.Adopt:
			if !adopt || sel.Empty() {
				continue // an empty selector would claim the whole namespace
			}
			if err := c.adoptPod(ctx, job, ref, p); err != nil {
				first = joinErr(first, err)
				continue
			}
			pods = append(pods, p)
		case reconcile.Release:
			if err := c.releasePod(ctx, job, p); err != nil {
				first = joinErr(first, err)
			}
		}
	}
	return pods, joinErr(first, c.releaseLeftovers(ctx, job.Namespace, job.Name, job.UID))
}

// releaseLeftovers removes the tracking finalizer from the pods that
// leftovers picks for a gone job named name.
func (c *Controller) releaseLeftovers(ctx context.Context, ns, name string, uid types.UID) error {
	all, err := c.pods.Pods(ns).List(labels.Everything())
	if err != nil {
		return err
	}
	var first error
	for _, p := range leftovers(all, name, uid) {
		first = joinErr(first, c.dropFinalizer(ctx, p))
	}
	return first
}

// leftovers picks the pods with the tracking finalizer that a gone job
// named name left (uid is the live job of that name, "" for none): pods
// whose controller is a job of that name and another uid and, when no job
// has that name, pods without a controller carrying its job-name label
// (orphaned by a deletion that kept them). Nothing else would let them go.
func leftovers(pods []*corev1.Pod, name string, uid types.UID) []*corev1.Pod {
	var out []*corev1.Pod
	for _, p := range pods {
		if !hasFinalizer(p) {
			continue
		}
		ref := metav1.GetControllerOfNoCopy(p)
		if ref != nil && ref.Kind == kind.Kind && ref.Name == name && ref.UID != uid ||
			ref == nil && uid == "" && p.Labels[batchv1.JobNameLabel] == name {
			out = append(out, p)
		}
	}
	return out
}

func (c *Controller) adoptPod(ctx context.Context, job *batchv1.Job, ref metav1.OwnerReference, p *corev1.Pod) error {
	meta := map[string]any{"ownerReferences": []metav1.OwnerReference{ref}, "uid": p.UID}
	if !isTerminated(job, p) && !hasFinalizer(p) {
		meta["finalizers"] = []string{batchv1.JobTrackingFinalizer}
	}
	patch, _ := json.Marshal(map[string]any{"metadata": meta})
	_, err := c.client.CoreV1().Pods(p.Namespace).Patch(ctx, p.Name, types.StrategicMergePatchType, patch, metav1.PatchOptions{})
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("adopt pod %s/%s: %w", p.Namespace, p.Name, err)
	}
	return nil
}

func (c *Controller) releasePod(ctx context.Context, job *batchv1.Job, p *corev1.Pod) error {
	_, err := c.client.CoreV1().Pods(p.Namespace).Patch(ctx, p.Name, types.StrategicMergePatchType, reconcile.ReleasePatch(job.UID, p.UID), metav1.PatchOptions{})
	if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsInvalid(err) {
		return fmt.Errorf("release pod %s/%s: %w", p.Namespace, p.Name, err)
	}
	if hasFinalizer(p) {
		return c.dropFinalizer(ctx, p)
	}
	return nil
}

// apply performs the second step's plan and writes the status, whatever
// else failed; it returns the first error, the status write's first and
// relErr (from releasing finalizers) next.
func (c *Controller) apply(ctx context.Context, key string, job *batchv1.Job, p plan, relErr error) error {
	if !p.lastFailure.IsZero() {
		c.mu.Lock()
		c.lastFailure[job.UID] = p.lastFailure
		c.mu.Unlock()
	}
	for _, e := range p.events {
		c.events.Eventf(job, nil, e.eventType, e.reason, e.action, "%s", e.note)
	}
	actErr := c.deletePods(ctx, key, job, p.deletes)
	if actErr == nil {
		_, actErr = reconcile.SlowStart(len(p.creates), func(i int) error {
			return c.createPod(ctx, key, job, p.creates[i], p.indexFailures)
		})
	}
	return c.finish(ctx, job, p.status, relErr, actErr)
}

func joinErr(errs ...error) error {
	for _, e := range errs {
		if e != nil {
			return e
		}
	}
	return nil
}

// newPod builds a pod from the job template; index < 0 for NonIndexed.
// A pod of a Job with backoffLimitPerIndex carries its index's failure
// counts from failures.
func newPod(job *batchv1.Job, index int, failures map[int]indexFailures) *corev1.Pod {
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
		if perIndex(job) {
			f := failures[index]
			p.Annotations[batchv1.JobIndexFailureCountAnnotation] = strconv.Itoa(int(f.failed))
			if f.ignored > 0 {
				p.Annotations[batchv1.JobIndexIgnoredFailureCountAnnotation] = strconv.Itoa(int(f.ignored))
			}
		}
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

func (c *Controller) createPod(ctx context.Context, key string, job *batchv1.Job, index int, failures map[int]indexFailures) error {
	p := newPod(job, index, failures)
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
