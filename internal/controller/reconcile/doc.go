// Package reconcile holds the pieces every controller loop of skiff shares:
//
//   - Loop (TypedLoop for keys that are not "namespace/name"), the one
//     work loop every controller runs: a rate-limited key queue, its
//     workers, the sync function they call and the informers it waits
//     for. Its wake-ups run on the controller's clock, so a fake clock in
//     a test drives the delays a controller asks for;
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
//	informer event ──► Add(key) ──► worker ──► sync(ctx, key) (Result, error)
//	                     ▲                        │ error: AddRateLimited(key), retried until it succeeds
//	                     └── after RequeueAfter ──┘ Result{RequeueAfter: d}: wake-up after d
//
// Controllers build a Loop in their constructor, enqueue from event
// handlers only, and run it from their Run method. A sync never re-adds its
// own key: it returns a Result, and the loop schedules it.
package reconcile
