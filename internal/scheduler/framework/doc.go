// Package framework is the scheduler's plugin contract: the extension-point
// interfaces (PreFilter, Filter, PostFilter, PreScore, Score, Reserve,
// PreBind, Bind, QueueSort),
// the per-attempt CycleState, the Status a plugin returns (Unschedulable vs
// Error), and NodeInfo, the aggregated view of one node and the pods on it.
//
// Plugins are pure: given the pod, a NodeInfo and the cycle state, they return
// a Status or a score, and never do I/O except through the Handle (the binder,
// preemption, and VolumeBinding's PreBind). Framework runs the plugins of one profile; the scheduler
// package drives it once per pod:
//
//	PreFilter -> Filter (parallel, over nodes) -> [PostFilter if none fit]
//	-> PreScore -> Score (parallel) -> NormalizeScore -> weight and sum
//	-> pick the best node -> assume -> Reserve
//	-> PreBind -> Bind (asynchronously, in the binding cycle)
//	   (Unreserve, in reverse order, when Reserve, PreBind or Bind fails)
//
// Plugins import only this package (plus the Kubernetes API libraries).
package framework
