// Package certificates holds the strategy of certificates.k8s.io/v1
// certificatesigningrequests, with its status and approval subresources.
//
// The requester fields (spec.username, uid, groups, extra) always come from
// the authenticated user (Strategy.PrepareForCreateByUser), never from the
// client. The spec never changes after create; /status may set the
// certificate and non-approval conditions; /approval may only set the
// Approved and Denied conditions.
package certificates
