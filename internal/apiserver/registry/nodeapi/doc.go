// Package nodeapi holds the strategy of node.k8s.io/v1 runtimeclasses: the
// handler must be a DNS label and never changes.
package nodeapi
