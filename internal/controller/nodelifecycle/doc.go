// Package nodelifecycle watches node heartbeats and acts on dead nodes.
//
// A node's agent renews its Lease in kube-node-lease. When neither the
// Lease nor the node's Ready condition has moved for the grace period (40 s
// by default), measured on this controller's own clock so clock skew
// between hosts does not matter, the node's Ready, MemoryPressure,
// DiskPressure and PIDPressure conditions become Unknown and its pods are
// marked not ready.
//
// Node conditions are mirrored into taints, as upstream:
//
//	Ready=False    -> node.kubernetes.io/not-ready:NoSchedule and :NoExecute
//	Ready=Unknown  -> node.kubernetes.io/unreachable:NoSchedule and :NoExecute
//	MemoryPressure, DiskPressure, PIDPressure, NetworkUnavailable=True
//	               -> the matching :NoSchedule taint
//	spec.unschedulable -> node.kubernetes.io/unschedulable:NoSchedule
//
// Pods on a node with NoExecute taints are evicted (deleted, after a
// DisruptionTarget condition) once they stop tolerating them: at once when
// a taint is not tolerated, else when the smallest tolerationSeconds of
// the matching tolerations has passed since the taint's timeAdded; pods
// tolerating without tolerationSeconds stay.
//
// Upstream's API server adds 300 s not-ready/unreachable tolerations to
// every pod at admission (DefaultTolerationSeconds); this controller only
// honours the tolerations pods carry.
package nodelifecycle
