// Package admission runs dynamic admission for the API server: mutating
// and validating webhooks (webhook.go) and ValidatingAdmissionPolicies
// (policy.go), configured by admissionregistration.k8s.io/v1 objects that
// it reads, on every request, from the API server's own watch cache
// through the Objects interface, so configuration changes apply as soon as
// the cache sees them.
//
// The API server calls it twice per write, as upstream does:
//
//	decode ─► defaults ─► Mutate (mutating webhooks, in order, each may
//	          send a JSONPatch) ─► defaults again ─► validation
//	       ─► Validate (validating webhooks in parallel, then policies)
//	       ─► storage
//
// Deletes pass Mutate (which can only deny) and Validate with the stored
// object as oldObject. Requests on the admission configuration resources
// themselves are exempt, so that a broken webhook can always be removed.
//
// Not done: reinvocationPolicy IfNeeded (mutating webhooks run once, in
// order), matchPolicy Equivalent across API versions (skiff serves one
// version of most resources, so rules match the requested version
// exactly), audit annotations, the `authorizer` CEL variable, and type
// checking of policies into status.
package admission
