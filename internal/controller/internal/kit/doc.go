// Package kit holds the pieces every skiff controller loop shares: a
// rate-limited work queue of object keys driven by a sync function,
// expectations for in-flight creates and deletes, slow-start batching, and
// small pod and ControllerRevision helpers.
//
// A controller builds one Loop in its constructor, registers Loop.Handler
// (or its own handler calling Loop.Enqueue) on its informers, and calls
// Loop.Run from its Run method. Event handlers only enqueue keys; the sync
// function re-reads state from listers, so the loop is level-based:
//
//	informer event -> Enqueue(key) -> worker -> sync(ctx, key)
//	                                   |  error: AddRateLimited(key)
//	                                   |  ok:    Forget(key)
package kit
