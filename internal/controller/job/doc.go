// Package job runs Jobs: pods until spec.completions succeed (or, Indexed,
// until every completion index has a succeeded pod), at most
// spec.parallelism at once, with upstream's failure handling.
//
// Every pod carries the batch.kubernetes.io/job-tracking finalizer, so a
// finished pod cannot vanish before it is counted. Counting is two-phase,
// as upstream, so a crash between steps neither loses nor double-counts:
//
//	pod terminated -> UID in status.uncountedTerminatedPods (status write)
//	               -> finalizer removed from the pod
//	               -> UID moved into status.succeeded / status.failed
//
// Lifecycle of a Job's conditions (upstream 1.3x):
//
//	running --completions/successPolicy--> SuccessCriteriaMet --pods gone--> Complete
//	running --backoff/deadline/policy/indexes--> FailureTarget --pods gone--> Failed
//	running <--spec.suspend--> Suspended
//
// The Complete and Failed conditions take their reason from the interim
// one (CompletionsReached or SuccessPolicy; BackoffLimitExceeded,
// DeadlineExceeded, PodFailurePolicy, MaxFailedIndexesExceeded or
// FailedIndexes).
//
// After a failure the next pod waits 10 s, doubling per failure up to 6 min.
// An Indexed Job with backoffLimitPerIndex counts failures and waits per
// index instead (perindex.go): a failed index (over its limit, or matched
// by a FailIndex rule) gets no more pods and is listed in
// status.failedIndexes; more than maxFailedIndexes of them fail the Job at
// once, otherwise it fails with FailedIndexes once every index ended.
//
// Pods being deleted are replaced at once (podReplacementPolicy
// TerminatingOrFailed) unless the Job has a pod failure policy or
// podReplacementPolicy Failed: then they keep their place until they
// reach the Failed phase. A Job whose spec.managedBy names another
// controller is left alone. Orphans matching a Job's selector are adopted
// with the tracking finalizer; pods that stop matching are released.
//
// A sync decides in pure functions (plan.go) and writes in job.go:
// decideTracking picks the pods to record as uncounted and release, the
// shell stores that and removes their finalizers, then decide (from what
// was released, the last failure's time and the expectations) returns a
// plan of events, pod deletions and creations, the new status and when to
// look again (active deadline, backoff), which apply performs.
package job
