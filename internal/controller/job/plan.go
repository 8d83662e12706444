package job

import (
	"sort"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"skiff/internal/controller/reconcile"
)

// A sync of an unfinished Job decides twice, because counting is
// two-phase (doc.go): decideTracking picks the terminated pods to record
// as uncounted and release, the shell writes that and removes their
// finalizers, and decide then works from what was released.

// trackingPlan is the first step of a sync.
type trackingPlan struct {
	// status is the Job's status with the newly terminated pods' UIDs in
	// uncountedTerminatedPods, and a FailureTarget condition when a
	// FailJob rule of the pod failure policy matched one of them.
	status *batchv1.JobStatus
	// write is whether status gained UIDs and must be stored before any
	// finalizer is removed.
	write bool
	// release are the terminated pods that still carry the finalizer.
	release []*corev1.Pod
}

// decideTracking is the first step: it records newly terminated pods as
// uncounted (a failed pod that an Ignore rule matches is released without
// being counted) and lists every terminated pod to release.
func decideTracking(job *batchv1.Job, pods []*corev1.Pod, now time.Time) trackingPlan {
	st := job.Status.DeepCopy()
	if st.UncountedTerminatedPods == nil {
		st.UncountedTerminatedPods = &batchv1.UncountedTerminatedPods{}
	}
	uncounted := map[types.UID]bool{}
	for _, u := range st.UncountedTerminatedPods.Succeeded {
		uncounted[u] = true
	}
	for _, u := range st.UncountedTerminatedPods.Failed {
		uncounted[u] = true
	}
	p := trackingPlan{status: st}
	var failJobMsg string
	for _, pod := range pods {
		if !hasFinalizer(pod) || !isTerminated(pod) {
			continue
		}
		p.release = append(p.release, pod)
		if uncounted[pod.UID] {
			continue
		}
		if pod.Status.Phase == corev1.PodSucceeded {
			st.UncountedTerminatedPods.Succeeded = append(st.UncountedTerminatedPods.Succeeded, pod.UID)
			p.write = true
			continue
		}
		action, msg, matched := matchPodFailurePolicy(job.Spec.PodFailurePolicy, pod)
		if matched && action == batchv1.PodFailurePolicyActionIgnore {
			continue // released without counting
		}
		if matched && action == batchv1.PodFailurePolicyActionFailJob && failJobMsg == "" {
			failJobMsg = msg
		}
		st.UncountedTerminatedPods.Failed = append(st.UncountedTerminatedPods.Failed, pod.UID)
		p.write = true
	}
	if failJobMsg != "" && condition(job, batchv1.JobFailureTarget) == nil {
		setCondition(st, batchv1.JobFailureTarget, corev1.ConditionTrue, ReasonPodFailurePolicy, failJobMsg, now)
	}
	return p
}

// observed is what the second step of a sync decides from.
type observed struct {
	// job is the Job as stored, after the first step's status write.
	job *batchv1.Job
	// status is the status the first step left.
	status *batchv1.JobStatus
	// pods are the Job's pods, as listed before the first step.
	pods []*corev1.Pod
	// released are the pods whose finalizer the first step removed.
	released map[types.UID]bool
	// lastFailure is when this controller last counted a failed pod of
	// the Job; zero for never.
	lastFailure time.Time
	// expectationsMet is whether the pod creations and deletions of
	// earlier syncs have all been observed; until they are, no pod is
	// created or deleted.
	expectationsMet bool
}

// event is an Event to record on the Job.
type event struct {
	eventType, reason, action, note string
}

// plan is the second step of a sync: what the shell writes, in order
// (events, deletions, creations, then status).
type plan struct {
	// status is the Job's new status, written when it differs.
	status *batchv1.JobStatus
	// lastFailure, when set, is the new time of the Job's last counted
	// failure, from which the backoff before the next pod runs.
	lastFailure time.Time
	events      []event
	deletes     []*corev1.Pod
	// creates are the completion indexes of the pods to create, -1 each
	// for a NonIndexed Job.
	creates []int
	// requeueAfter is when to look again without an event: at the active
	// deadline, or once the backoff holding creates back has passed.
	requeueAfter time.Duration
}

// decide is the second step: it counts the released pods, observes the
// running ones, and moves the Job through suspension, its end (success or
// failure) or towards its wanted number of active pods.
func decide(o observed, now time.Time) plan {
	job, st := o.job, o.status.DeepCopy()
	var p plan

	// Count what is released (or gone).
	byUID := map[types.UID]*corev1.Pod{}
	for _, pod := range o.pods {
		byUID[pod.UID] = pod
	}
	isCounted := func(u types.UID) bool {
		pod, ok := byUID[u]
		return !ok || o.released[u] || !hasFinalizer(pod)
	}
	completed := parseIndexes(st.CompletedIndexes)
	var keepS, keepF []types.UID
	newFailures := int32(0)
	for _, u := range st.UncountedTerminatedPods.Succeeded {
		if !isCounted(u) {
			keepS = append(keepS, u)
			continue
		}
		if pod, ok := byUID[u]; ok && indexed(job) {
			if i := completionIndex(pod); i >= 0 && job.Spec.Completions != nil && i < int(*job.Spec.Completions) && !completed[i] {
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
	lastFailure := o.lastFailure
	if newFailures > 0 {
		p.lastFailure, lastFailure = now, now
	}

	// Observe the pods that still run.
	var active []*corev1.Pod
	st.Active, st.Terminating = 0, nil
	var ready, terminating int32
	for _, pod := range o.pods {
		switch {
		case pod.DeletionTimestamp != nil && !reconcile.IsPodTerminal(pod):
			terminating++
		case reconcile.IsPodActive(pod):
			active = append(active, pod)
			if reconcile.IsPodReady(pod) {
				ready++
			}
		}
	}
	st.Active, st.Ready, st.Terminating = int32(len(active)), &ready, &terminating
	p.status = st

	if job.Spec.Suspend != nil && *job.Spec.Suspend {
		if condition(job, batchv1.JobSuspended) == nil {
			setCondition(st, batchv1.JobSuspended, corev1.ConditionTrue, "JobSuspended", "Job suspended", now)
			p.events = append(p.events, event{corev1.EventTypeNormal, "Suspended", "Suspend", "Job suspended"})
		}
		st.StartTime = nil
		if o.expectationsMet {
			p.deletes = active
		}
		return p
	}
	if condition(job, batchv1.JobSuspended) != nil {
		setCondition(st, batchv1.JobSuspended, corev1.ConditionFalse, "JobResumed", "Job resumed", now)
		p.events = append(p.events, event{corev1.EventTypeNormal, "Resumed", "Resume", "Job resumed"})
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
			p.events = append(p.events, event{corev1.EventTypeWarning, reason, "Fail", msg})
			done = true
		} else if succeeded(job, st) {
			setCondition(st, batchv1.JobSuccessCriteriaMet, corev1.ConditionTrue, ReasonCompletionsReached, msgCompletions, now)
			done = true
		} else if d := job.Spec.ActiveDeadlineSeconds; d != nil {
			p.requeueAfter = st.StartTime.Add(time.Duration(*d) * time.Second).Sub(now)
		}
	}
	if done {
		if o.expectationsMet {
			p.deletes = active
		}
		if len(active) == 0 && terminating == 0 && len(keepS)+len(keepF) == 0 {
			if ft := findCondition(st, batchv1.JobFailureTarget); ft != nil {
				setCondition(st, batchv1.JobFailed, corev1.ConditionTrue, ft.Reason, ft.Message, now)
			} else {
				setCondition(st, batchv1.JobComplete, corev1.ConditionTrue, ReasonCompletionsReached, msgCompletions, now)
				t := metav1.NewTime(now)
				st.CompletionTime = &t
				p.events = append(p.events, event{corev1.EventTypeNormal, "Completed", "Complete", "Job completed"})
			}
		}
		return p
	}
	if !o.expectationsMet {
		return p
	}
	p.deletes, p.creates = podChanges(job, st, active, completed)
	if len(p.creates) > 0 && !lastFailure.IsZero() {
		if wait := lastFailure.Add(backoff(st.Failed)).Sub(now); wait > 0 {
			p.creates = nil
			if p.requeueAfter == 0 || wait < p.requeueAfter {
				p.requeueAfter = wait
			}
		}
	}
	return p
}

// podChanges returns the pods to delete and the completion indexes to
// create pods for (-1 each for NonIndexed) toward the wanted number of
// active pods.
func podChanges(job *batchv1.Job, st *batchv1.JobStatus, active []*corev1.Pod, completed map[int]bool) (toDelete []*corev1.Pod, toCreate []int) {
	parallelism := int32(1)
	if job.Spec.Parallelism != nil {
		parallelism = *job.Spec.Parallelism
	}
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
		return toDelete, toCreate
	}
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
	return toDelete, toCreate
}

func findCondition(st *batchv1.JobStatus, t batchv1.JobConditionType) *batchv1.JobCondition {
	for i, c := range st.Conditions {
		if c.Type == t && c.Status == corev1.ConditionTrue {
			return &st.Conditions[i]
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
