// Package podgc removes pods nobody else will: pods bound to nodes that no
// longer exist, terminating pods that were never scheduled, and the oldest
// terminated (Succeeded or Failed) pods beyond a threshold.
//
// It has one work item, "gc", queued every period and a second after a
// change that gives it work (a pod terminal, orphaned, or terminating
// unbound; a node deleted); each run re-reads the caches. A pod's node is
// confirmed gone with a live read before its pod is removed, so a lagging
// cache cannot kill a pod on a new node. Removal is as upstream's: the pod
// is marked Failed with a DisruptionTarget condition (DeletionByPodGC),
// then force deleted, because no kubelet is left to finish a graceful
// deletion.
package podgc
