// Package core holds the per-type behaviour of the core/v1 resources (pods,
// services, nodes, namespaces, ...): defaults, what create and update may
// change, validation, generation tracking, Table columns and field selectors.
//
// Resources returns them all; the generic store in package apiserver calls
// each Strategy and does the rest (metadata, storage, watch). Everything here
// is pure: functions of the objects they are given, no I/O and no clock other
// than the Age helpers used for Table cells.
//
// podspec.go exports the pod-spec helpers (defaults, validation, the
// CONTAINERS/IMAGES cells) that the workload groups (apps, batch) reuse for
// their pod templates.
package core
