// Package discovery holds the strategy of discovery.k8s.io/v1
// endpointslices, which the EndpointSlice controller writes and the service
// proxy and DNS read.
package discovery
