// Package reconcile holds the pieces every controller loop of skiff shares:
//
//   - Queue, a rate-limited key queue with its workers, and Loop, a
//     Queue bound to one sync function and the informers it waits for;
//     Loop's AddAfter runs on the controller's clock, so a fake clock in a
//     test drives the wake-ups a controller schedules itself;
//   - event handlers that map informer events to keys (Handler,
//     Loop.OwnedPodHandler, ServicePodHandler);
//   - Expectations for creations (by count or by name) and deletions a
//     controller issued but has not yet observed, and SlowStart batches;
//   - controllerRef claims, adoption and release patches, and a
//     WriteTracker for controllers that create objects with generateName
//     and must not trust a cache that lags their own writes;
//   - pod state helpers (pods.go) and ControllerRevision helpers
//     (revisions.go).
//
// The loop is the one STYLE.md describes:
//
//	informer event ──► Add(key) ──► worker ──► sync(ctx, key)
//	                                   │ error
//	                                   └──► AddRateLimited(key)
//
// Controllers build a Queue or Loop in their constructor, enqueue from
// event handlers only, and run it from their Run method.
package reconcile
