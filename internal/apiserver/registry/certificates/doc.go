// Package certificates holds the strategies of certificates.k8s.io/v1:
// certificatesigningrequests, with their status and approval
// subresources, clustertrustbundles and podcertificaterequests, with
// their status subresource.
//
// A CSR's requester fields (spec.username, uid, groups, extra) always come
// from the authenticated user (Strategy.PrepareForCreateByUser), never
// from the client. The spec never changes after create; /status may set
// the certificate and non-approval conditions; /approval may only set the
// Approved and Denied conditions.
//
// A ClusterTrustBundle holds distinct CA certificates; one of a signer is
// named after it ("example.com:signer:<name>") and keeps its signer. A
// PodCertificateRequest's spec never changes; its status goes once from
// Pending to Issued (with a chain certifying the requested key and
// consistent validity times), Denied or Failed, and then never changes.
package certificates
