// Package fieldmanager records managedFields for the built-in kinds: one
// upstream field manager (k8s.io/apimachinery's managedfields) per kind
// and subresource, built on first use from the OpenAPI-derived type
// converter, for updates and server-side apply.
//
// A create, which is most writes, takes a faster path: Manager.CreateEntries
// computes the one Update entry upstream's field manager would record
// (every field that differs from an empty object of the kind) by a
// reflection walk of the Go object (createfields.go) that mirrors
// structured-merge-diff's comparison, falling back on the comparison where
// the walk stops, and on the full field manager when CreateEntries says
// so. TestCreateEntriesMatchFieldManager checks both against upstream's
// field manager; BenchmarkCreateManagedFields measures the gain.
//
// Custom resources have their own schemas and managers, kept by the API
// server with each CRD version.
package fieldmanager
