// Package scheduler places pending pods on nodes, the way kube-scheduler
// does, talking to the API server only through client-go.
//
// Shape:
//
//	informers ──► cache (nodes + bound/assumed pods) ──► Snapshot per cycle
//	          └─► queue (active / backoff / unschedulable)
//	loop: Pop ─► schedulePod (pure: PreFilter, Filter, Score over the
//	      snapshot) ─► assume in cache ─► bind goroutine (pods/binding)
//	                  └► on failure: PostFilter (preemption), PodScheduled
//	                     condition + FailedScheduling event, requeue
//
// Profiles (one Framework each) are chosen by spec.schedulerName; pods that
// name no profile are left alone. Only the leader of the kube-scheduler
// Lease schedules; followers keep their caches warm.
//
// The caller builds a Scheduler with New and calls Run, which blocks until
// ctx ends (or leadership is lost, which is an error).
package scheduler
