// Package endpoints maintains the core/v1 Endpoints of every Service with
// a selector: one address per pod that matches the selector and has an
// IP, under addresses when ready (or when the Service publishes not-ready
// addresses) and notReadyAddresses otherwise, with the Service's ports
// resolved against each pod's named container ports.
//
// Services without a selector are left alone (their Endpoints are the
// user's), and so is default/kubernetes, which the API server maintains.
// A pod or Service event enqueues the Service; sync recomputes the
// subsets (pure, subsets.go) and writes them when they differ.
package endpoints
