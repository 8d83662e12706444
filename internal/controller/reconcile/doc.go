// Package reconcile holds the pieces every controller loop of skiff shares:
// a rate-limited key queue with its worker loop, creation/deletion
// expectations, slow-start batches, controllerRef claims and adoption
// patches, and a WriteTracker for controllers that create objects with
// generateName and must not trust a cache that lags their own writes.
//
// The loop is the one STYLE.md describes:
//
//	informer event ──► Queue.Add(key) ──► worker ──► sync(ctx, key)
//	                                          │ error
//	                                          └──► AddRateLimited(key)
//
// Controllers build a Queue in their constructor, enqueue from event
// handlers only, and call Queue.Run from their Run method.
package reconcile
