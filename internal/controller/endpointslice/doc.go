// Package endpointslice maintains the discovery.k8s.io/v1 EndpointSlices
// of every Service with a selector, as the service proxy and DNS read
// them.
//
// Each matching pod with an IP becomes one endpoint with conditions
// ready (ready and not terminating, or the Service publishes not-ready
// addresses), serving (ready regardless of termination) and terminating.
// Endpoints are grouped by their resolved ports (named targetPorts may
// resolve differently per pod) and cut into slices of at most 100. Slices
// carry kubernetes.io/service-name and
// endpointslice.kubernetes.io/managed-by=endpointslice-controller.k8s.io
// and are owned by their Service, so the garbage collector removes them
// with it. A Service with no endpoints keeps one empty placeholder slice.
//
// Services without a selector are the mirroring controller's.
package endpointslice
