// Package registry describes the resources the API server serves.
//
// A Resource names one REST resource (group, version, plural, kind, scope,
// verbs, subresources) and carries its Strategy: the per-type behaviour that
// upstream keeps in each registry's strategy (defaults, validation, what a
// create or update may change, generation, Table columns and field
// selectors). One generic store in package apiserver does everything else.
//
// Each resource's strategy lives in a child folder (registry/core/pod,
// registry/apps/deployment, ...) that exports a function returning its
// Resource; registry/all gathers them in one function. Nothing registers
// itself at init time.
package registry
