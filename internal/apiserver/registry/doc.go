// Package registry describes the resources the API server serves.
//
// A Resource names one REST resource (group, version, plural, kind, scope,
// verbs, subresources) and carries its Strategy: the per-type behaviour that
// upstream keeps in each registry's strategy (defaults, validation, what a
// create or update may change, generation, Table columns and field
// selectors). One generic store in package apiserver does everything else.
//
// The strategies live in one child package per API group, one file per
// resource (registry/core/pod.go, registry/apps/deployment.go, ...); each
// package exports a function returning its Resources, and registry/all
// gathers them in one function. Nothing registers itself at init time.
package registry
