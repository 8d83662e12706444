// Package statefulset runs StatefulSets: pods with stable ordinal names
// (<set>-<ordinal>), a stable hostname under the set's headless Service,
// and one PersistentVolumeClaim per volumeClaimTemplate and ordinal.
//
// One sync per set, level-based:
//
//	revisions: ensure a ControllerRevision for spec.template (updateRevision)
//	create:    missing ordinals, one at a time (OrderedReady) or all (Parallel)
//	condemn:   ordinals beyond replicas, highest first
//	update:    RollingUpdate replaces pods of an old revision from the
//	           highest ordinal down to the partition; OnDelete waits for the
//	           user to delete them
//	status:    written every sync
//
// With OrderedReady, ordinal n+1 is created only once 0..n are Running and
// Ready, and ordinal n is removed only when n+1.. are gone.
//
// decide (plan.go) turns the set, its pods and the time into the ordered
// steps of a sync (recreate, create, ensure claims, scale down, update);
// apply takes them and stops at the first that fails.
package statefulset
