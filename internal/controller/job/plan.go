package job

import (
	"slices"
	"sort"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"

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
// being counted), the indexes their failures fail (backoffLimitPerIndex)
// and lists every terminated pod to release.
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
	completed := parseIndexes(st.CompletedIndexes)
	failedIdx := parseIndexes(ptr.Deref(st.FailedIndexes, ""))
	p := trackingPlan{status: st}
	var failJobMsg string
	for _, pod := range pods {
		if !hasFinalizer(pod) || !isTerminated(job, pod) {
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
		// The index fails in the same write that records the pod, so
		// that it is failed before the pod's finalizer goes.
		if i := completionIndex(pod); perIndex(job) && inRange(job, i) && !completed[i] && indexFailed(job, pod, action, matched) {
			failedIdx[i] = true
		}
		st.UncountedTerminatedPods.Failed = append(st.UncountedTerminatedPods.Failed, pod.UID)
		p.write = true
	}
	if perIndex(job) {
		if f := formatIndexes(failedIdx); st.FailedIndexes == nil || *st.FailedIndexes != f {
			st.FailedIndexes = &f
			p.write = true
		}
	}
	if failJobMsg != "" && condition(job, batchv1.JobFailureTarget) == nil {
		setCondition(st, batchv1.JobFailureTarget, corev1.ConditionTrue, ReasonPodFailurePolicy, failJobMsg, now)
	}
	return p
}

// inRange reports whether i is a completion index of an Indexed job.
func inRange(job *batchv1.Job, i int) bool {
	return i >= 0 && job.Spec.Completions != nil && i < int(*job.Spec.Completions)
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
	// indexFailures are, for a Job with backoffLimitPerIndex, the failure
	// counts each created index's pod carries.
	indexFailures map[int]indexFailures
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
	failedIdx := parseIndexes(ptr.Deref(st.FailedIndexes, ""))
	var keepS, keepF []types.UID
	newFailures := int32(0)
	for _, u := range st.UncountedTerminatedPods.Succeeded {
		if !isCounted(u) {
			keepS = append(keepS, u)
			continue
		}
		if pod, ok := byUID[u]; ok && indexed(job) {
			// A success counts once per index, and not for an index
			// that already failed.
			if i := completionIndex(pod); inRange(job, i) && !completed[i] && !failedIdx[i] {
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
	if perIndex(job) {
		st.FailedIndexes = ptr.To(formatIndexes(failedIdx))
	}
	lastFailure := o.lastFailure
	if newFailures > 0 {
		p.lastFailure, lastFailure = now, now
	}

	// Observe the pods that still run.
	var active, terminatingPods []*corev1.Pod
	var ready int32
	for _, pod := range o.pods {
		switch {
		case pod.DeletionTimestamp != nil && !reconcile.IsPodTerminal(pod):
			terminatingPods = append(terminatingPods, pod)
		case reconcile.IsPodActive(pod):
			active = append(active, pod)
			if reconcile.IsPodReady(pod) {
				ready++
			}
		}
	}
	terminating := int32(len(terminatingPods))
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
		if reason, msg := failure(job, st, completed, failedIdx, now); reason != "" {
			setCondition(st, batchv1.JobFailureTarget, corev1.ConditionTrue, reason, msg, now)
			p.events = append(p.events, event{corev1.EventTypeWarning, reason, "Fail", msg})
			done = true
		} else if msg, ok := matchSuccessPolicy(successPolicy(job), completed); ok {
			setCondition(st, batchv1.JobSuccessCriteriaMet, corev1.ConditionTrue, batchv1.JobReasonSuccessPolicy, msg, now)
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
				sc := findCondition(st, batchv1.JobSuccessCriteriaMet)
				setCondition(st, batchv1.JobComplete, corev1.ConditionTrue, sc.Reason, sc.Message, now)
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

	// Indexes of a Job with backoffLimitPerIndex wait out their own
	// backoff; the others start meanwhile.
	var delayed map[int]bool
	var histories map[int]indexHistory
	if perIndex(job) {
		delayed, histories = map[int]bool{}, indexHistories(job, o.pods)
		for i, h := range histories {
			if h.lastFailure.IsZero() {
				continue
			}
			if wait := h.lastFailure.Add(backoff(h.next.failed)).Sub(now); wait > 0 {
				delayed[i] = true
				p.requeueAfter = sooner(p.requeueAfter, wait)
			}
		}
	}
	var occupying []*corev1.Pod
	if onlyReplaceFailed(job) {
		occupying = terminatingPods
	}
	p.deletes, p.creates = podChanges(job, st, active, occupying, completed, failedIdx, delayed)
	if perIndex(job) && len(p.creates) > 0 {
		p.indexFailures = map[int]indexFailures{}
		for _, i := range p.creates {
			p.indexFailures[i] = histories[i].next
		}
	}
	if !perIndex(job) && len(p.creates) > 0 && !lastFailure.IsZero() {
		if wait := lastFailure.Add(backoff(st.Failed)).Sub(now); wait > 0 {
			p.creates = nil
			p.requeueAfter = sooner(p.requeueAfter, wait)
		}
	}
	return p
}

// sooner returns the sooner of two requeue delays, zero being none.
func sooner(cur, d time.Duration) time.Duration {
	if cur == 0 || d < cur {
		return d
	}
	return cur
}

func successPolicy(job *batchv1.Job) *batchv1.SuccessPolicy {
	if !indexed(job) {
		return nil
	}
	return job.Spec.SuccessPolicy
}

// podChanges returns the pods to delete and the completion indexes to
// create pods for (-1 each for NonIndexed) toward the wanted number of
// active pods. occupying are pods being deleted that still hold their
// place (and index) until they fail; delayed are indexes in backoff.
func podChanges(job *batchv1.Job, st *batchv1.JobStatus, active, occupying []*corev1.Pod, completed, failedIdx, delayed map[int]bool) (toDelete []*corev1.Pod, toCreate []int) {
	parallelism := int32(1)
	if job.Spec.Parallelism != nil {
		parallelism = *job.Spec.Parallelism
	}
	if indexed(job) {
		running := map[int]bool{}
		for _, p := range active {
			i := completionIndex(p)
			if !inRange(job, i) || running[i] || completed[i] || failedIdx[i] {
				toDelete = append(toDelete, p) // duplicate, out of range, done or failed
				continue
			}
			running[i] = true
		}
		held := map[int]bool{}
		for _, p := range occupying {
			held[completionIndex(p)] = true
		}
		kept := len(running)
		room := int(parallelism) - kept - len(occupying)
		for i := 0; i < int(*job.Spec.Completions) && room > 0; i++ {
			if !completed[i] && !failedIdx[i] && !running[i] && !held[i] && !delayed[i] {
				toCreate = append(toCreate, i)
				room--
			}
		}
		if excess := kept - int(parallelism); excess > 0 {
			var keep []*corev1.Pod
			for _, p := range active {
				if i := completionIndex(p); inRange(job, i) && running[i] && !slices.Contains(toDelete, p) {
					keep = append(keep, p)
				}
			}
			toDelete = append(toDelete, newestFirst(keep)[:excess]...)
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
	if diff := int(want) - len(active); diff < 0 {
		toDelete = newestFirst(active)[:-diff]
	} else {
		for range diff - len(occupying) {
			toCreate = append(toCreate, -1)
		}
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

// failure returns the FailureTarget reason and message, if any: the
// backoff limit, the active deadline, and for a Job with
// backoffLimitPerIndex more failed indexes than maxFailedIndexes or, once
// every index succeeded or failed, any failed index.
func failure(job *batchv1.Job, st *batchv1.JobStatus, completed, failedIdx map[int]bool, now time.Time) (string, string) {
	if job.Spec.BackoffLimit != nil && st.Failed > *job.Spec.BackoffLimit {
		return ReasonBackoffLimitExceeded, msgBackoffLimit
	}
	if d := job.Spec.ActiveDeadlineSeconds; d != nil && st.StartTime != nil &&
		!now.Before(st.StartTime.Add(time.Duration(*d)*time.Second)) {
		return ReasonDeadlineExceeded, msgDeadline
	}
	if perIndex(job) {
		if m := job.Spec.MaxFailedIndexes; m != nil && len(failedIdx) > int(*m) {
			return batchv1.JobReasonMaxFailedIndexesExceeded, msgMaxFailedIndexes
		}
		if len(failedIdx) > 0 && len(completed)+len(failedIdx) >= int(*job.Spec.Completions) {
			return batchv1.JobReasonFailedIndexes, msgFailedIndexes
		}
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
