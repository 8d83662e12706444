// Package garbagecollector deletes objects whose owners are gone, and
// carries out foreground and orphan deletion, across every resource the
// API server serves.
//
// It discovers all listable, watchable, deletable resources, watches
// them as metadata only, and keeps a graph of ownerReferences (owner UID
// to dependents). Informer events update the graph and enqueue work on
// two queues:
//
//	attemptToDelete(obj): an object whose owners may all be gone or
//	    deleting in the foreground; or an owner in foreground deletion.
//	    - owner in foreground deletion: delete its dependents; when no
//	      dependent with blockOwnerDeletion remains, drop the
//	      foregroundDeletion finalizer.
//	    - some owner still exists: remove the dangling references only.
//	    - no owner exists: delete the object (foreground when its owners
//	      wait on it and it has dependents of its own).
//	attemptToOrphan(owner): an owner with the orphan finalizer: strip its
//	    reference from every dependent, then drop the finalizer.
//
// The API server adds those finalizers when a delete asks for
// propagationPolicy Foreground or Orphan. Decisions always re-read the
// object live, so a stale graph can only cause a retry, never a wrong
// deletion. New resources (CRDs) are picked up by periodic rediscovery.
package garbagecollector
