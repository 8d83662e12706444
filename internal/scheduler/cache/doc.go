// Package cache keeps the scheduler's view of nodes and the pods on them,
// including pods assumed onto a node whose binding is still in flight, and
// turns it into a Snapshot at the start of every scheduling cycle.
//
// Life of a pod in the cache:
//
//	AssumePod -> (binding) -> FinishBinding -> AddPod from the informer (confirmed)
//	     \-> ForgetPod (binding failed)
//
// An assumed pod counts against its node right away, so a node is never
// double-booked while its binding is in flight. UpdateSnapshot copies only
// the nodes that changed since the last call.
package cache
