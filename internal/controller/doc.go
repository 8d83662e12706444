// Package controller defines what every controller of skiff's controller
// manager is given and must provide. Each controller lives in its own child
// package (controller/deployment, controller/job, ...) and never imports a
// sibling; controller/manager runs them under a Lease so that one instance
// acts in an HA cluster.
//
// A controller is level-based: informer event handlers only enqueue keys,
// workers run sync(ctx, key) that re-reads state from listers and writes
// through the client, and errors requeue with rate limiting.
package controller
