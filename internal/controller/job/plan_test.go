package job

import (
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
)

var now = time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)

// testPod is a pod of the job under test named name (its UID too).
func testPod(name string, phase corev1.PodPhase, mut ...func(*corev1.Pod)) *corev1.Pod {
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns", UID: types.UID(name),
			Finalizers: []string{batchv1.JobTrackingFinalizer}, CreationTimestamp: metav1.NewTime(now.Add(-time.Minute))},
		Status: corev1.PodStatus{Phase: phase},
	}
	for _, m := range mut {
		m(p)
	}
	return p
}

func noFinalizer(p *corev1.Pod) { p.Finalizers = nil }

func atIndex(i int) func(*corev1.Pod) {
	return func(p *corev1.Pod) {
		p.Annotations = map[string]string{batchv1.JobCompletionIndexAnnotation: fmt.Sprint(i)}
	}
}

func exitCode(code int32) func(*corev1.Pod) {
	return func(p *corev1.Pod) {
		p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "c",
			State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: code}}}}
	}
}

// failures sets the per-index failure counts a pod was created with.
func failures(failed, ignored int) func(*corev1.Pod) {
	return func(p *corev1.Pod) {
		if p.Annotations == nil {
			p.Annotations = map[string]string{}
		}
		p.Annotations[batchv1.JobIndexFailureCountAnnotation] = fmt.Sprint(failed)
		if ignored > 0 {
			p.Annotations[batchv1.JobIndexIgnoredFailureCountAnnotation] = fmt.Sprint(ignored)
		}
	}
}

// finishedAgo sets when a pod's container ended.
func finishedAgo(d time.Duration) func(*corev1.Pod) {
	return func(p *corev1.Pod) {
		for i := range p.Status.ContainerStatuses {
			if t := p.Status.ContainerStatuses[i].State.Terminated; t != nil {
				t.FinishedAt = metav1.NewTime(now.Add(-d))
			}
		}
	}
}

func deleting(p *corev1.Pod) { p.DeletionTimestamp = &metav1.Time{Time: now} }

// perIndexJob is an Indexed job of completions indexes, all at once,
// with backoffLimitPerIndex limit.
func perIndexJob(completions, limit int32) func(*batchv1.Job) {
	return func(j *batchv1.Job) {
		j.Spec.CompletionMode = ptr.To(batchv1.IndexedCompletion)
		j.Spec.Completions, j.Spec.Parallelism = ptr.To(completions), ptr.To(completions)
		j.Spec.BackoffLimitPerIndex, j.Spec.BackoffLimit = ptr.To(limit), ptr.To[int32](1<<31-1)
	}
}

func testJob(mut ...func(*batchv1.Job)) *batchv1.Job {
	j := &batchv1.Job{ObjectMeta: metav1.ObjectMeta{Name: "j", Namespace: "ns", UID: "job"},
		Spec: batchv1.JobSpec{Completions: ptr.To[int32](2), Parallelism: ptr.To[int32](1), BackoffLimit: ptr.To[int32](6)}}
	for _, m := range mut {
		m(j)
	}
	return j
}

func exitCodeRule(action batchv1.PodFailurePolicyAction, code int32) func(*batchv1.Job) {
	return func(j *batchv1.Job) {
		j.Spec.PodFailurePolicy = &batchv1.PodFailurePolicy{Rules: []batchv1.PodFailurePolicyRule{{Action: action,
			OnExitCodes: &batchv1.PodFailurePolicyOnExitCodesRequirement{Operator: batchv1.PodFailurePolicyOnExitCodesOpIn, Values: []int32{code}}}}}
	}
}

func withStatus(mut func(*batchv1.JobStatus)) func(*batchv1.Job) {
	return func(j *batchv1.Job) { mut(&j.Status) }
}

func names(pods []*corev1.Pod) []string {
	var out []string
	for _, p := range pods {
		out = append(out, p.Name)
	}
	return out
}

// conds lists a status's conditions as type/status/reason.
func conds(st *batchv1.JobStatus) []string {
	var out []string
	for _, c := range st.Conditions {
		out = append(out, fmt.Sprintf("%s/%s/%s", c.Type, c.Status, c.Reason))
	}
	return out
}

func TestDecideTracking(t *testing.T) {
	type result struct {
		Write             bool
		Release           []string
		Succeeded, Failed []types.UID
		FailedIndexes     *string
		Conditions        []string
	}
	tests := []struct {
		name string
		job  *batchv1.Job
		pods []*corev1.Pod
		want result
	}{{
		name: "running pods are left alone",
		job:  testJob(),
		pods: []*corev1.Pod{testPod("a", corev1.PodRunning)},
	}, {
		name: "newly terminated pods become uncounted and are released",
		job:  testJob(),
		pods: []*corev1.Pod{testPod("a", corev1.PodSucceeded), testPod("b", corev1.PodFailed), testPod("c", corev1.PodRunning)},
		want: result{Write: true, Release: []string{"a", "b"}, Succeeded: []types.UID{"a"}, Failed: []types.UID{"b"}},
	}, {
		name: "a pod deleted before it succeeded counts as failed",
		job:  testJob(),
		pods: []*corev1.Pod{testPod("a", corev1.PodRunning, func(p *corev1.Pod) { p.DeletionTimestamp = &metav1.Time{Time: now} })},
		want: result{Write: true, Release: []string{"a"}, Failed: []types.UID{"a"}},
	}, {
		name: "already uncounted: released again without a write",
		job: testJob(withStatus(func(st *batchv1.JobStatus) {
			st.UncountedTerminatedPods = &batchv1.UncountedTerminatedPods{Succeeded: []types.UID{"a"}}
		})),
		pods: []*corev1.Pod{testPod("a", corev1.PodSucceeded)},
		want: result{Release: []string{"a"}, Succeeded: []types.UID{"a"}},
	}, {
		name: "counted pods without the finalizer are not touched",
		job:  testJob(),
		pods: []*corev1.Pod{testPod("a", corev1.PodSucceeded, noFinalizer)},
	}, {
		name: "an Ignore rule releases a failed pod without counting it",
		job:  testJob(exitCodeRule(batchv1.PodFailurePolicyActionIgnore, 3)),
		pods: []*corev1.Pod{testPod("a", corev1.PodFailed, exitCode(3))},
		want: result{Release: []string{"a"}},
	}, {
		name: "a FailJob rule sets FailureTarget",
		job:  testJob(exitCodeRule(batchv1.PodFailurePolicyActionFailJob, 3)),
		pods: []*corev1.Pod{testPod("a", corev1.PodFailed, exitCode(3))},
		want: result{Write: true, Release: []string{"a"}, Failed: []types.UID{"a"},
			Conditions: []string{"FailureTarget/True/PodFailurePolicy"}},
	}, {
		name: "an unmatched rule counts the failure",
		job:  testJob(exitCodeRule(batchv1.PodFailurePolicyActionFailJob, 3)),
		pods: []*corev1.Pod{testPod("a", corev1.PodFailed, exitCode(1))},
		want: result{Write: true, Release: []string{"a"}, Failed: []types.UID{"a"}},
	}, {
		name: "per index: a failure within the index's limit fails no index",
		job:  testJob(perIndexJob(2, 1)),
		pods: []*corev1.Pod{testPod("a", corev1.PodFailed, atIndex(1), failures(0, 0))},
		want: result{Write: true, Release: []string{"a"}, Failed: []types.UID{"a"}, FailedIndexes: ptr.To("")},
	}, {
		name: "per index: a failure beyond the index's limit fails the index in the same write",
		job:  testJob(perIndexJob(4, 1), withStatus(func(st *batchv1.JobStatus) { st.FailedIndexes = ptr.To("0") })),
		pods: []*corev1.Pod{testPod("a", corev1.PodFailed, atIndex(3), failures(1, 0)), testPod("b", corev1.PodFailed, atIndex(2), failures(0, 0))},
		want: result{Write: true, Release: []string{"a", "b"}, Failed: []types.UID{"a", "b"}, FailedIndexes: ptr.To("0,3")},
	}, {
		name: "per index: a FailIndex rule fails the index at once",
		job:  testJob(perIndexJob(2, 1), exitCodeRule(batchv1.PodFailurePolicyActionFailIndex, 1)),
		pods: []*corev1.Pod{testPod("a", corev1.PodSucceeded, atIndex(0)), testPod("b", corev1.PodFailed, atIndex(1), exitCode(1))},
		want: result{Write: true, Release: []string{"a", "b"}, Succeeded: []types.UID{"a"}, Failed: []types.UID{"b"}, FailedIndexes: ptr.To("1")},
	}, {
		name: "per index: a completed index does not fail",
		job:  testJob(perIndexJob(2, 0), withStatus(func(st *batchv1.JobStatus) { st.CompletedIndexes, st.FailedIndexes = "0", ptr.To("") })),
		pods: []*corev1.Pod{testPod("a", corev1.PodFailed, atIndex(0))},
		want: result{Write: true, Release: []string{"a"}, Failed: []types.UID{"a"}, FailedIndexes: ptr.To("")},
	}, {
		name: "per index: an ignored failure neither counts nor fails its index",
		job:  testJob(perIndexJob(2, 0), exitCodeRule(batchv1.PodFailurePolicyActionIgnore, 3)),
		pods: []*corev1.Pod{testPod("a", corev1.PodFailed, atIndex(0), exitCode(3))},
		want: result{Write: true, Release: []string{"a"}, FailedIndexes: ptr.To("")},
	}, {
		name: "a pod being deleted is not yet failed when only failed pods are replaced",
		job:  testJob(func(j *batchv1.Job) { j.Spec.PodReplacementPolicy = ptr.To(batchv1.Failed) }),
		pods: []*corev1.Pod{testPod("a", corev1.PodRunning, deleting)},
	}, {
		name: "a rule matches a pod deleted before it ended only once it failed",
		job:  testJob(exitCodeRule(batchv1.PodFailurePolicyActionFailJob, 137)),
		pods: []*corev1.Pod{testPod("a", corev1.PodRunning, deleting, exitCode(137)), testPod("b", corev1.PodFailed, deleting, exitCode(137))},
		want: result{Write: true, Release: []string{"b"}, Failed: []types.UID{"b"},
			Conditions: []string{"FailureTarget/True/PodFailurePolicy"}},
	}, {
		name: "a deleted pod whose containers stopped has ended, whatever phase the node left it in",
		job: testJob(func(j *batchv1.Job) {
			j.Spec.PodFailurePolicy = &batchv1.PodFailurePolicy{Rules: []batchv1.PodFailurePolicyRule{{Action: batchv1.PodFailurePolicyActionIgnore,
				OnPodConditions: []batchv1.PodFailurePolicyOnPodConditionsPattern{{Type: corev1.DisruptionTarget, Status: corev1.ConditionTrue}}}}}
		}),
		pods: []*corev1.Pod{
			testPod("evicted", corev1.PodPending, deleting, func(p *corev1.Pod) {
				p.Status.Conditions = []corev1.PodCondition{{Type: corev1.DisruptionTarget, Status: corev1.ConditionTrue}}
				p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "c", State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{}}}}
			}),
			testPod("stopping", corev1.PodPending, deleting, func(p *corev1.Pod) {
				p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "c", State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}}}
			}),
			testPod("deleted", corev1.PodPending, deleting),
		},
		want: result{Write: true, Release: []string{"evicted", "deleted"}, Failed: []types.UID{"deleted"}},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := decideTracking(tt.job, tt.pods, now)
			got := result{Write: p.write, Release: names(p.release), Succeeded: p.status.UncountedTerminatedPods.Succeeded,
				Failed: p.status.UncountedTerminatedPods.Failed, FailedIndexes: p.status.FailedIndexes, Conditions: conds(p.status)}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("decideTracking (-want +got):\n%s", diff)
			}
		})
	}
}

func TestDecide(t *testing.T) {
	// result is the part of a plan a reader checks.
	type result struct {
		Succeeded, Failed, Active int32
		Uncounted                 int
		CompletedIndexes          string
		FailedIndexes             string
		Conditions                []string
		Started, Completed        bool
		LastFailure               bool
		Events                    []string
		Deletes                   []string
		Creates                   []int
		IndexFailures             map[int]string // failed/ignored
		RequeueAfter              time.Duration
	}
	uncounted := func(s, f []types.UID) func(*batchv1.JobStatus) {
		return func(st *batchv1.JobStatus) {
			st.UncountedTerminatedPods = &batchv1.UncountedTerminatedPods{Succeeded: s, Failed: f}
		}
	}
	started := func(ago time.Duration) func(*batchv1.JobStatus) {
		return func(st *batchv1.JobStatus) { st.StartTime = &metav1.Time{Time: now.Add(-ago)} }
	}
	suspended := func(j *batchv1.Job) { j.Spec.Suspend = ptr.To(true) }
	tests := []struct {
		name        string
		job         *batchv1.Job
		status      []func(*batchv1.JobStatus) // the status step 1 left, on top of job's
		pods        []*corev1.Pod
		released    []types.UID
		lastFailure time.Time
		notMet      bool // expectations not yet met
		want        result
	}{{
		name: "a new job starts its first pod",
		job:  testJob(),
		want: result{Started: true, Creates: []int{-1}},
	}, {
		name: "a running job at parallelism does nothing",
		job:  testJob(withStatus(started(time.Minute))),
		pods: []*corev1.Pod{testPod("a", corev1.PodRunning)},
		want: result{Active: 1, Started: true},
	}, {
		name:     "a released success is counted and the next pod starts",
		job:      testJob(withStatus(started(time.Minute))),
		status:   []func(*batchv1.JobStatus){uncounted([]types.UID{"a"}, nil)},
		pods:     []*corev1.Pod{testPod("a", corev1.PodSucceeded)},
		released: []types.UID{"a"},
		want:     result{Succeeded: 1, Started: true, Creates: []int{-1}},
	}, {
		name:   "a pod not yet released stays uncounted",
		job:    testJob(withStatus(started(time.Minute))),
		status: []func(*batchv1.JobStatus){uncounted([]types.UID{"a"}, nil)},
		pods:   []*corev1.Pod{testPod("a", corev1.PodSucceeded)},
		want:   result{Uncounted: 1, Started: true, Creates: []int{-1}},
	}, {
		name:   "a pod that is gone counts",
		job:    testJob(withStatus(started(time.Minute))),
		status: []func(*batchv1.JobStatus){uncounted([]types.UID{"gone"}, nil)},
		want:   result{Succeeded: 1, Started: true, Creates: []int{-1}},
	}, {
		name:     "a counted failure holds the next pod for the backoff",
		job:      testJob(withStatus(started(time.Minute))),
		status:   []func(*batchv1.JobStatus){uncounted(nil, []types.UID{"a"})},
		pods:     []*corev1.Pod{testPod("a", corev1.PodFailed)},
		released: []types.UID{"a"},
		want:     result{Failed: 1, Started: true, LastFailure: true, RequeueAfter: 10 * time.Second},
	}, {
		name:        "an earlier failure holds the next pod for what is left of the backoff",
		job:         testJob(withStatus(func(st *batchv1.JobStatus) { started(time.Minute)(st); st.Failed = 2 })),
		lastFailure: now.Add(-5 * time.Second),
		want:        result{Failed: 2, Started: true, RequeueAfter: 15 * time.Second},
	}, {
		name:        "the backoff has passed",
		job:         testJob(withStatus(func(st *batchv1.JobStatus) { started(time.Minute)(st); st.Failed = 1 })),
		lastFailure: now.Add(-time.Minute),
		want:        result{Failed: 1, Started: true, Creates: []int{-1}},
	}, {
		name:   "the backoff limit fails the job once its pods are gone",
		job:    testJob(func(j *batchv1.Job) { j.Spec.BackoffLimit = ptr.To[int32](0) }, withStatus(started(time.Minute))),
		status: []func(*batchv1.JobStatus){func(st *batchv1.JobStatus) { st.Failed = 1 }},
		want: result{Failed: 1, Started: true,
			Conditions: []string{"FailureTarget/True/BackoffLimitExceeded", "Failed/True/BackoffLimitExceeded"},
			Events:     []string{"Warning/BackoffLimitExceeded"}},
	}, {
		name:   "a failing job deletes its active pods first",
		job:    testJob(func(j *batchv1.Job) { j.Spec.BackoffLimit = ptr.To[int32](0) }, withStatus(started(time.Minute))),
		status: []func(*batchv1.JobStatus){func(st *batchv1.JobStatus) { st.Failed = 1 }},
		pods:   []*corev1.Pod{testPod("b", corev1.PodRunning)},
		want: result{Failed: 1, Active: 1, Started: true,
			Conditions: []string{"FailureTarget/True/BackoffLimitExceeded"},
			Events:     []string{"Warning/BackoffLimitExceeded"}, Deletes: []string{"b"}},
	}, {
		name:   "a failing job waits for its expectations before deleting",
		job:    testJob(func(j *batchv1.Job) { j.Spec.BackoffLimit = ptr.To[int32](0) }, withStatus(started(time.Minute))),
		status: []func(*batchv1.JobStatus){func(st *batchv1.JobStatus) { st.Failed = 1 }},
		pods:   []*corev1.Pod{testPod("b", corev1.PodRunning)},
		notMet: true,
		want: result{Failed: 1, Active: 1, Started: true,
			Conditions: []string{"FailureTarget/True/BackoffLimitExceeded"},
			Events:     []string{"Warning/BackoffLimitExceeded"}},
	}, {
		name: "the active deadline fails the job",
		job:  testJob(func(j *batchv1.Job) { j.Spec.ActiveDeadlineSeconds = ptr.To[int64](30) }, withStatus(started(time.Minute))),
		want: result{Started: true,
			Conditions: []string{"FailureTarget/True/DeadlineExceeded", "Failed/True/DeadlineExceeded"},
			Events:     []string{"Warning/DeadlineExceeded"}},
	}, {
		name: "a deadline ahead requeues for it",
		job:  testJob(func(j *batchv1.Job) { j.Spec.ActiveDeadlineSeconds = ptr.To[int64](100) }, withStatus(started(time.Minute))),
		pods: []*corev1.Pod{testPod("a", corev1.PodRunning)},
		want: result{Active: 1, Started: true, RequeueAfter: 40 * time.Second},
	}, {
		name: "the sooner of deadline and backoff wins",
		job: testJob(func(j *batchv1.Job) { j.Spec.ActiveDeadlineSeconds = ptr.To[int64](100) },
			withStatus(func(st *batchv1.JobStatus) { started(time.Minute)(st); st.Failed = 3 })),
		lastFailure: now,
		want:        result{Failed: 3, Started: true, RequeueAfter: 40 * time.Second},
	}, {
		name:     "the last completion completes the job",
		job:      testJob(withStatus(func(st *batchv1.JobStatus) { started(time.Minute)(st); st.Succeeded = 1 })),
		status:   []func(*batchv1.JobStatus){uncounted([]types.UID{"b"}, nil)},
		pods:     []*corev1.Pod{testPod("b", corev1.PodSucceeded)},
		released: []types.UID{"b"},
		want: result{Succeeded: 2, Started: true, Completed: true,
			Conditions: []string{"SuccessCriteriaMet/True/CompletionsReached", "Complete/True/CompletionsReached"},
			Events:     []string{"Normal/Completed"}},
	}, {
		name:   "success waits for uncounted pods before Complete",
		job:    testJob(withStatus(func(st *batchv1.JobStatus) { started(time.Minute)(st); st.Succeeded = 2 })),
		status: []func(*batchv1.JobStatus){uncounted(nil, []types.UID{"c"})},
		pods:   []*corev1.Pod{testPod("c", corev1.PodFailed)},
		want: result{Succeeded: 2, Uncounted: 1, Started: true,
			Conditions: []string{"SuccessCriteriaMet/True/CompletionsReached"}},
	}, {
		// Upstream leaves the other pods of a work queue job running once
		// one succeeded; this controller deletes them (unchanged here).
		name: "a work queue job starts no pod and deletes the others once one succeeded",
		job: testJob(func(j *batchv1.Job) { j.Spec.Completions, j.Spec.Parallelism = nil, ptr.To[int32](3) },
			withStatus(func(st *batchv1.JobStatus) { started(time.Minute)(st); st.Succeeded = 1 })),
		pods: []*corev1.Pod{testPod("a", corev1.PodRunning)},
		want: result{Succeeded: 1, Active: 1, Started: true, Deletes: []string{"a"}},
	}, {
		name: "lowered parallelism deletes the newest pod, not-ready first",
		job:  testJob(func(j *batchv1.Job) { j.Spec.Completions = ptr.To[int32](5) }, withStatus(started(time.Minute))),
		pods: []*corev1.Pod{
			testPod("old", corev1.PodRunning),
			testPod("new", corev1.PodRunning, func(p *corev1.Pod) { p.CreationTimestamp = metav1.NewTime(now) }),
		},
		want: result{Active: 2, Started: true, Deletes: []string{"new"}},
	}, {
		name:   "expectations not met: no pod is created",
		job:    testJob(withStatus(started(time.Minute))),
		notMet: true,
		want:   result{Started: true},
	}, {
		name: "suspending deletes the active pods and clears the start time",
		job:  testJob(suspended, withStatus(started(time.Minute))),
		pods: []*corev1.Pod{testPod("a", corev1.PodRunning)},
		want: result{Active: 1, Conditions: []string{"Suspended/True/JobSuspended"},
			Events: []string{"Normal/Suspended"}, Deletes: []string{"a"}},
	}, {
		name: "resuming restarts the clock and the pods",
		job: testJob(withStatus(func(st *batchv1.JobStatus) {
			st.Conditions = []batchv1.JobCondition{{Type: batchv1.JobSuspended, Status: corev1.ConditionTrue, Reason: "JobSuspended"}}
		})),
		want: result{Started: true, Conditions: []string{"Suspended/False/JobResumed"},
			Events: []string{"Normal/Resumed"}, Creates: []int{-1}},
	}, {
		name: "indexed: a released index completes and the missing ones start",
		job: testJob(func(j *batchv1.Job) {
			j.Spec.CompletionMode = ptr.To(batchv1.IndexedCompletion)
			j.Spec.Completions, j.Spec.Parallelism = ptr.To[int32](4), ptr.To[int32](3)
		}, withStatus(started(time.Minute))),
		status:   []func(*batchv1.JobStatus){uncounted([]types.UID{"i0"}, nil)},
		pods:     []*corev1.Pod{testPod("i0", corev1.PodSucceeded, atIndex(0)), testPod("i2", corev1.PodRunning, atIndex(2))},
		released: []types.UID{"i0"},
		want:     result{Succeeded: 1, Active: 1, CompletedIndexes: "0", Started: true, Creates: []int{1, 3}},
	}, {
		name: "indexed: a duplicate index is deleted",
		job: testJob(func(j *batchv1.Job) {
			j.Spec.CompletionMode = ptr.To(batchv1.IndexedCompletion)
			j.Spec.Completions, j.Spec.Parallelism = ptr.To[int32](2), ptr.To[int32](1)
		}, withStatus(started(time.Minute))),
		pods: []*corev1.Pod{testPod("a", corev1.PodRunning, atIndex(0)), testPod("b", corev1.PodRunning, atIndex(0))},
		want: result{Active: 2, Started: true, Deletes: []string{"b"}},
	}, {
		name: "per index: new pods carry failure count 0",
		job:  testJob(perIndexJob(2, 1)),
		want: result{Started: true, FailedIndexes: "", Creates: []int{0, 1}, IndexFailures: map[int]string{0: "0/0", 1: "0/0"}},
	}, {
		name: "per index: a failed index gets no pod, the others do, and a retried one carries its failures",
		job: testJob(perIndexJob(3, 2), withStatus(func(st *batchv1.JobStatus) {
			started(time.Minute)(st)
			st.FailedIndexes, st.Failed = ptr.To("1"), 4
		})),
		pods: []*corev1.Pod{
			testPod("a0", corev1.PodFailed, atIndex(0), failures(0, 0), noFinalizer, exitCode(1), finishedAgo(time.Hour)),
			testPod("b0", corev1.PodFailed, atIndex(0), failures(1, 0), noFinalizer, exitCode(1), finishedAgo(time.Hour)),
			testPod("a1", corev1.PodFailed, atIndex(1), failures(2, 0), noFinalizer, exitCode(1), finishedAgo(time.Hour)),
		},
		want: result{Failed: 4, FailedIndexes: "1", Started: true, Creates: []int{0, 2},
			IndexFailures: map[int]string{0: "2/0", 2: "0/0"}},
	}, {
		name: "per index: an index waits out its own backoff while the others start",
		job:  testJob(perIndexJob(3, 2), withStatus(func(st *batchv1.JobStatus) { started(time.Minute)(st); st.FailedIndexes, st.Failed = ptr.To(""), 2 })),
		pods: []*corev1.Pod{
			testPod("a0", corev1.PodFailed, atIndex(0), noFinalizer, failures(1, 0), exitCode(1), finishedAgo(15*time.Second)),
			testPod("a1", corev1.PodFailed, atIndex(1), noFinalizer, failures(0, 0), exitCode(1), finishedAgo(time.Minute)),
		},
		want: result{Failed: 2, Started: true, Creates: []int{1, 2}, IndexFailures: map[int]string{1: "1/0", 2: "0/0"},
			RequeueAfter: 5 * time.Second},
	}, {
		name: "per index: an ignored failure is retried at once and counted as ignored",
		job:  testJob(perIndexJob(1, 0), exitCodeRule(batchv1.PodFailurePolicyActionIgnore, 3), withStatus(started(time.Minute))),
		pods: []*corev1.Pod{testPod("a0", corev1.PodFailed, atIndex(0), noFinalizer, exitCode(3), finishedAgo(0))},
		want: result{Started: true, Creates: []int{0}, IndexFailures: map[int]string{0: "0/1"}},
	}, {
		name: "per index: a running pod of a failed index is deleted",
		job: testJob(perIndexJob(2, 0), withStatus(func(st *batchv1.JobStatus) {
			started(time.Minute)(st)
			st.FailedIndexes, st.Failed = ptr.To("0"), 1
		})),
		pods: []*corev1.Pod{testPod("a0", corev1.PodRunning, atIndex(0)), testPod("a1", corev1.PodRunning, atIndex(1))},
		want: result{Failed: 1, Active: 2, FailedIndexes: "0", Started: true, Deletes: []string{"a0"}},
	}, {
		name: "per index: once every index ended, a failed one fails the job",
		job: testJob(perIndexJob(2, 1), withStatus(func(st *batchv1.JobStatus) {
			started(time.Minute)(st)
			st.FailedIndexes, st.Failed = ptr.To("1"), 1
		})),
		status:   []func(*batchv1.JobStatus){uncounted([]types.UID{"a0"}, nil)},
		pods:     []*corev1.Pod{testPod("a0", corev1.PodSucceeded, atIndex(0))},
		released: []types.UID{"a0"},
		want: result{Succeeded: 1, Failed: 1, CompletedIndexes: "0", FailedIndexes: "1", Started: true,
			Conditions: []string{"FailureTarget/True/FailedIndexes", "Failed/True/FailedIndexes"},
			Events:     []string{"Warning/FailedIndexes"}},
	}, {
		name: "per index: a failed index waits for the other indexes",
		job: testJob(perIndexJob(2, 1), withStatus(func(st *batchv1.JobStatus) {
			started(time.Minute)(st)
			st.FailedIndexes, st.Failed = ptr.To("1"), 2
		})),
		pods: []*corev1.Pod{testPod("a0", corev1.PodRunning, atIndex(0))},
		want: result{Failed: 2, Active: 1, FailedIndexes: "1", Started: true},
	}, {
		name: "per index: more failed indexes than maxFailedIndexes fail the job at once",
		job: testJob(perIndexJob(4, 0), func(j *batchv1.Job) { j.Spec.MaxFailedIndexes = ptr.To[int32](0) },
			withStatus(func(st *batchv1.JobStatus) { started(time.Minute)(st); st.FailedIndexes, st.Failed = ptr.To("0"), 1 })),
		pods: []*corev1.Pod{testPod("a1", corev1.PodRunning, atIndex(1))},
		want: result{Failed: 1, Active: 1, FailedIndexes: "0", Started: true,
			Conditions: []string{"FailureTarget/True/MaxFailedIndexesExceeded"},
			Events:     []string{"Warning/MaxFailedIndexesExceeded"}, Deletes: []string{"a1"}},
	}, {
		name: "success policy: the succeeded indexes it names end the job, pending ones are deleted",
		job: testJob(func(j *batchv1.Job) {
			j.Spec.CompletionMode = ptr.To(batchv1.IndexedCompletion)
			j.Spec.Completions, j.Spec.Parallelism = ptr.To[int32](5), ptr.To[int32](2)
			j.Spec.SuccessPolicy = &batchv1.SuccessPolicy{Rules: []batchv1.SuccessPolicyRule{{SucceededIndexes: ptr.To("0")}}}
		}, withStatus(started(time.Minute))),
		status:   []func(*batchv1.JobStatus){uncounted([]types.UID{"a0"}, nil)},
		pods:     []*corev1.Pod{testPod("a0", corev1.PodSucceeded, atIndex(0)), testPod("a1", corev1.PodRunning, atIndex(1))},
		released: []types.UID{"a0"},
		want: result{Succeeded: 1, Active: 1, CompletedIndexes: "0", Started: true,
			Conditions: []string{"SuccessCriteriaMet/True/SuccessPolicy"}, Deletes: []string{"a1"}},
	}, {
		name: "success policy: Complete takes the SuccessPolicy reason once the pods are gone",
		job: testJob(func(j *batchv1.Job) {
			j.Spec.CompletionMode = ptr.To(batchv1.IndexedCompletion)
			j.Spec.Completions = ptr.To[int32](2)
			j.Spec.SuccessPolicy = &batchv1.SuccessPolicy{Rules: []batchv1.SuccessPolicyRule{{SucceededCount: ptr.To[int32](2)}}}
		}, withStatus(func(st *batchv1.JobStatus) { started(time.Minute)(st); st.CompletedIndexes, st.Succeeded = "0,1", 2 })),
		want: result{Succeeded: 2, CompletedIndexes: "0,1", Started: true, Completed: true,
			Conditions: []string{"SuccessCriteriaMet/True/SuccessPolicy", "Complete/True/SuccessPolicy"},
			Events:     []string{"Normal/Completed"}},
	}, {
		name: "replacement policy Failed: a terminating pod keeps its place",
		job:  testJob(func(j *batchv1.Job) { j.Spec.PodReplacementPolicy = ptr.To(batchv1.Failed) }, withStatus(started(time.Minute))),
		pods: []*corev1.Pod{testPod("a", corev1.PodRunning, deleting)},
		want: result{Started: true},
	}, {
		name: "replacement policy TerminatingOrFailed: a terminating pod is replaced",
		job:  testJob(func(j *batchv1.Job) { j.Spec.PodReplacementPolicy = ptr.To(batchv1.TerminatingOrFailed) }, withStatus(started(time.Minute))),
		pods: []*corev1.Pod{testPod("a", corev1.PodRunning, deleting, noFinalizer)},
		want: result{Started: true, Creates: []int{-1}},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := tt.job.Status.DeepCopy()
			if st.UncountedTerminatedPods == nil {
				st.UncountedTerminatedPods = &batchv1.UncountedTerminatedPods{}
			}
			for _, m := range tt.status {
				m(st)
			}
			released := map[types.UID]bool{}
			for _, u := range tt.released {
				released[u] = true
			}
			p := decide(observed{job: tt.job, status: st, pods: tt.pods, released: released,
				lastFailure: tt.lastFailure, expectationsMet: !tt.notMet}, now)
			got := result{
				Succeeded: p.status.Succeeded, Failed: p.status.Failed, Active: p.status.Active,
				Uncounted:        len(p.status.UncountedTerminatedPods.Succeeded) + len(p.status.UncountedTerminatedPods.Failed),
				CompletedIndexes: p.status.CompletedIndexes, FailedIndexes: ptr.Deref(p.status.FailedIndexes, ""), Conditions: conds(p.status),
				Started: p.status.StartTime != nil, Completed: p.status.CompletionTime != nil,
				LastFailure: !p.lastFailure.IsZero(), Deletes: names(p.deletes), Creates: p.creates,
				RequeueAfter: p.requeueAfter,
			}
			for i, f := range p.indexFailures {
				if got.IndexFailures == nil {
					got.IndexFailures = map[int]string{}
				}
				got.IndexFailures[i] = fmt.Sprintf("%d/%d", f.failed, f.ignored)
			}
			for _, e := range p.events {
				got.Events = append(got.Events, e.eventType+"/"+e.reason)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("decide (-want +got):\n%s", diff)
			}
		})
	}
}

func TestMatchSuccessPolicy(t *testing.T) {
	rule := func(indexes *string, count *int32) batchv1.SuccessPolicyRule {
		return batchv1.SuccessPolicyRule{SucceededIndexes: indexes, SucceededCount: count}
	}
	tests := []struct {
		name      string
		rules     []batchv1.SuccessPolicyRule
		completed string
		want      string // the message, "" for no match
	}{
		{"all named indexes succeeded", []batchv1.SuccessPolicyRule{rule(ptr.To("0,2-3"), nil)}, "0-3", "Matched rules at index 0"},
		{"a named index is missing", []batchv1.SuccessPolicyRule{rule(ptr.To("0,2-3"), nil)}, "0-2", ""},
		{"enough of the named indexes", []batchv1.SuccessPolicyRule{rule(ptr.To("0-4"), ptr.To[int32](2))}, "1,3,7", "Matched rules at index 0"},
		{"too few of the named indexes", []batchv1.SuccessPolicyRule{rule(ptr.To("0-4"), ptr.To[int32](2))}, "1,7", ""},
		{"a count of any indexes, second rule", []batchv1.SuccessPolicyRule{rule(ptr.To("9"), nil), rule(nil, ptr.To[int32](1))}, "4", "Matched rules at index 1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, _ := matchSuccessPolicy(&batchv1.SuccessPolicy{Rules: tt.rules}, parseIndexes(tt.completed))
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("matchSuccessPolicy (-want +got):\n%s", diff)
			}
		})
	}
}
