// Package daemonset runs DaemonSets: one pod on every node the pod
// template may run on (nodeSelector, required node affinity, taints versus
// tolerations, plus the tolerations upstream adds to every daemon pod).
//
// Pods are not bound here: like upstream, each pod gets a required node
// affinity term matching the field metadata.name of its node, and the
// scheduler binds it.
//
// One sync per DaemonSet, level-based:
//
//	plan:    for every node, shouldRun / shouldContinueRunning
//	create:  nodes that should run a pod and have none (slow-start batches)
//	delete:  pods on nodes that must not run one, extra pods, failed pods
//	update:  RollingUpdate replaces old-hash pods within maxUnavailable, or
//	         surges new pods first within maxSurge; OnDelete waits
//	status:  written every sync
package daemonset
