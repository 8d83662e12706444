// Package apps holds the strategies of apps/v1: deployments, replicasets,
// statefulsets, daemonsets and controllerrevisions.
//
// Each strategy defaults as upstream's apps/v1 defaults.go does (pod
// templates through registry/core), resets status on create and keeps it on
// spec updates, validates with upstream's field paths and messages (the
// selector must match the template labels and never changes), bumps
// metadata.generation on spec changes, renders kubectl's table columns and,
// for the scalable kinds, serves /scale.
package apps
