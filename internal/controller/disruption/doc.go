// Package disruption keeps PodDisruptionBudget status current, the numbers
// the eviction API consults before letting a pod go:
//
//	expectedPods       pods the budget covers: for an integer minAvailable
//	                   the matching pods, otherwise the sum of the scale of
//	                   their controllers (Deployment, ReplicaSet,
//	                   ReplicationController, StatefulSet)
//	desiredHealthy     minAvailable, or expectedPods - maxUnavailable,
//	                   percentages rounded up as upstream
//	currentHealthy     matching pods that are Ready and not being deleted
//	                   nor recently evicted (status.disruptedPods)
//	disruptionsAllowed max(0, currentHealthy - desiredHealthy)
//
// with the DisruptionAllowed condition (SufficientPods, InsufficientPods or
// SyncFailed). One sync per budget, queued by its own changes and by
// changes of the pods it selects.
package disruption
