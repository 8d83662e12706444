// Package integration tests the scheduler against an in-process skiff
// control plane (API server on embedded etcd) with nodes created as plain
// objects: what a user sees on pods, events and leases.
package integration
