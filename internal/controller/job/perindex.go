package job

import (
	"strconv"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
)

// Indexed Jobs with spec.backoffLimitPerIndex count failures per
// completion index instead of per Job. The count lives on the pods: each
// pod of an index carries, in its annotations, how many of the index's
// earlier pods failed (and how many failures an Ignore rule excused), so
// the replacement of a failed pod gets that pod's counts plus its own
// failure. An index whose failures exceed the limit, or whose pod matched
// a FailIndex rule, is failed: it is listed in status.failedIndexes and
// gets no more pods.

// perIndex reports whether job counts failures per index.
func perIndex(job *batchv1.Job) bool {
	return indexed(job) && job.Spec.BackoffLimitPerIndex != nil
}

// onlyReplaceFailed reports whether a pod being deleted keeps its place
// until it reaches the Failed phase, as upstream does for
// podReplacementPolicy Failed and for any Job with a pod failure policy
// (whose rules match the pod's final status).
func onlyReplaceFailed(job *batchv1.Job) bool {
	return job.Spec.PodFailurePolicy != nil ||
		job.Spec.PodReplacementPolicy != nil && *job.Spec.PodReplacementPolicy == batchv1.Failed
}

// indexFailures are the failure counts a pod of an index carries.
type indexFailures struct {
	// failed is how many pods of the index failed before this one.
	failed int32
	// ignored is how many failures an Ignore rule excused.
	ignored int32
}

func annotationCount(p *corev1.Pod, key string) int32 {
	n, err := strconv.ParseInt(p.Annotations[key], 10, 32)
	if err != nil || n < 0 {
		return 0
	}
	return int32(n)
}

// podIndexFailures reads the counts a pod was created with.
func podIndexFailures(p *corev1.Pod) indexFailures {
	return indexFailures{
		failed:  annotationCount(p, batchv1.JobIndexFailureCountAnnotation),
		ignored: annotationCount(p, batchv1.JobIndexIgnoredFailureCountAnnotation),
	}
}

// indexHistory is what the failed pods of one index say about its next
// pod.
type indexHistory struct {
	// next are the counts the index's next pod carries.
	next indexFailures
	// lastFailure is when the index's last counted failure finished,
	// zero when its last failure was ignored; the next pod waits the
	// backoff for next.failed failures from then.
	lastFailure time.Time
}

// indexHistories folds the failed pods of each index: the pod with the
// highest counts is the index's latest, and its counts plus its own
// failure (or ignored failure) are the next pod's.
func indexHistories(job *batchv1.Job, pods []*corev1.Pod) map[int]indexHistory {
	out := map[int]indexHistory{}
	latest := map[int]*corev1.Pod{}
	for _, p := range pods {
		i := completionIndex(p)
		if i < 0 || !isFailed(job, p) {
			continue
		}
		c := podIndexFailures(p)
		if prev, ok := latest[i]; ok {
			pc := podIndexFailures(prev)
			if c.failed+c.ignored < pc.failed+pc.ignored ||
				c.failed+c.ignored == pc.failed+pc.ignored && !finishTime(p).After(finishTime(prev)) {
				continue
			}
		}
		latest[i] = p
		h := indexHistory{next: c}
		if action, _, ok := matchPodFailurePolicy(job.Spec.PodFailurePolicy, p); ok && action == batchv1.PodFailurePolicyActionIgnore {
			h.next.ignored++
		} else {
			h.next.failed++
			h.lastFailure = finishTime(p)
		}
		out[i] = h
	}
	return out
}

// indexFailed reports whether a failed pod fails its index: a FailIndex
// rule matched it, or its failure exceeds the per-index backoff limit.
func indexFailed(job *batchv1.Job, p *corev1.Pod, action batchv1.PodFailurePolicyAction, matched bool) bool {
	if matched && action == batchv1.PodFailurePolicyActionFailIndex {
		return true
	}
	return podIndexFailures(p).failed+1 > *job.Spec.BackoffLimitPerIndex
}

// finishTime is when a terminated pod finished: its last container's
// end, else when it stopped being ready, else when it was deleted, else
// when it was created.
func finishTime(p *corev1.Pod) time.Time {
	var t time.Time
	for _, st := range append(append([]corev1.ContainerStatus(nil), p.Status.InitContainerStatuses...), p.Status.ContainerStatuses...) {
		if term := st.State.Terminated; term != nil && term.FinishedAt.After(t) {
			t = term.FinishedAt.Time
		}
	}
	if !t.IsZero() {
		return t
	}
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady && c.Status == corev1.ConditionFalse && !c.LastTransitionTime.IsZero() {
			return c.LastTransitionTime.Time
		}
	}
	if p.DeletionTimestamp != nil {
		return p.DeletionTimestamp.Time
	}
	return p.CreationTimestamp.Time
}
