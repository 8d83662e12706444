// Package replicaset keeps the number of pods of every ReplicaSet and
// ReplicationController equal to its replicas.
//
// Both kinds share one loop. A small adapter (kind) presents either object
// as an appsv1.ReplicaSet and writes status back in the object's own
// type, so ReplicationControllers get exactly the ReplicaSet behaviour:
//
//	pod/owner event ──► queue(ns/name) ──► sync:
//	   claim pods (adopt orphans, release non-matching)
//	   if expectations satisfied: create (slow-start) or delete (ranked)
//	   write status (replicas, ready, available, fullyLabeled, conditions)
//
// Deletion prefers unscheduled, then pending, then not-ready, then
// recently-ready, then more-restarted, then newer pods; the
// controller.kubernetes.io/pod-deletion-cost annotation is honoured.
package replicaset
