// Package deployment rolls Deployments out through ReplicaSets, with the
// behaviour and status kubectl expects from upstream.
//
//	event ──► queue(ns/name) ──► sync:
//	  claim ReplicaSets (adopt/release by selector and controllerRef)
//	  deleting ─────────────► status only
//	  paused or scaling ────► scale (proportionally during a rollout)
//	  Recreate ─────────────► old to 0, wait for their pods, new to replicas
//	  RollingUpdate ────────► new up within maxSurge, old down within maxUnavailable
//	  then: prune history (revisionHistoryLimit), write status and
//	  conditions (Available, Progressing with progressDeadlineSeconds,
//	  ReplicaFailure); a rollout in progress returns RequeueAfter for its
//	  progress deadline
//
// The new ReplicaSet is the one whose pod template equals the Deployment's
// (ignoring pod-template-hash); it carries the highest
// deployment.kubernetes.io/revision. kubectl rollout undo patches the
// template back, so an old ReplicaSet becomes new again and gets the next
// revision, its former one kept in revision-history.
//
// The arithmetic (rollout.go) is pure; deployment.go does the I/O.
package deployment
