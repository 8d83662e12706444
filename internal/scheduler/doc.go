// Package scheduler places pending pods on nodes, the way kube-scheduler
// does, talking to the API server only through client-go.
//
// Shape:
//
//	informers ──► cache (nodes + bound/assumed pods) ──► Snapshot per cycle
//	          └─► queue (active / backoff / unschedulable)
//	loop: Pop ─► schedulePod (pure: PreFilter, Filter, Score over the
//	      snapshot) ─► assume in cache ─► Reserve ─► bind goroutine:
//	      PreBind (may wait, e.g. for volumes; holds no binding slot
//	      meanwhile) ─► Bind (pods/binding)
//	                  └► on failure: PostFilter (preemption), PodScheduled
//	                     condition + FailedScheduling event, requeue
//	                  └► Reserve, PreBind or Bind failing: Unreserve, forget
//	                     the assumed pod, requeue with backoff
//
// Profiles (one Framework each) are chosen by spec.schedulerName; pods that
// name no profile are left alone. Only the leader of the kube-scheduler
// Lease schedules; followers keep their caches warm.
//
// The caller builds a Scheduler with New and calls Run, which blocks until
// ctx ends (or leadership is lost, which is an error).
package scheduler
