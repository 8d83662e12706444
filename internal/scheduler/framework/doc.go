// Package framework is the scheduler's plugin contract: the extension-point
// interfaces (PreFilter, Filter, PostFilter, PreScore, Score, Bind, QueueSort),
// the per-attempt CycleState, the Status a plugin returns (Unschedulable vs
// Error), and NodeInfo, the aggregated view of one node and the pods on it.
//
// Plugins are pure: given the pod, a NodeInfo and the cycle state, they return
// a Status or a score, and never do I/O except through the Handle (the binder
// and preemption). Framework runs the plugins of one profile; the scheduler
// package drives it once per pod:
//
//	PreFilter -> Filter (parallel, over nodes) -> [PostFilter if none fit]
//	-> PreScore -> Score (parallel) -> NormalizeScore -> weight and sum
//	-> pick the best node -> assume -> Bind (asynchronously)
//
// Plugins import only this package (plus the Kubernetes API libraries).
package framework
