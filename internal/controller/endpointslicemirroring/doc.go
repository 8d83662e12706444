// Package endpointslicemirroring mirrors the custom Endpoints of Services
// without a selector into EndpointSlices, so that readers of slices (the
// service proxy, DNS) see endpoints users maintain by hand.
//
// Endpoints are mirrored when their Service exists, has no selector, and
// the Endpoints are not labelled endpointslice.kubernetes.io/skip-mirror
// (default/kubernetes is the API server's and is skipped). Each subset's
// addresses become ready endpoints and notReadyAddresses not-ready ones,
// grouped by address family and ports, at most 100 per slice. Mirrored
// slices are labelled managed-by=endpointslicemirroring-controller.k8s.io
// and owned by the Endpoints; when mirroring no longer applies they are
// deleted.
package endpointslicemirroring
