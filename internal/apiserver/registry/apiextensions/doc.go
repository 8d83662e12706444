// Package apiextensions describes apiextensions.k8s.io/v1
// CustomResourceDefinitions to the generic store, and turns each served
// version of a CRD into a registry.Resource of unstructured objects: the
// schema's pruning, defaulting and validation, printer columns, and the
// status and scale subresources.
//
// Everything here is pure: the API server owns the run-time registry that
// calls ResourcesFor when a CRD is established and drops the resources when
// the CRD goes away.
package apiextensions
