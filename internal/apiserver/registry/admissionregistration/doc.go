// Package admissionregistration holds the strategies of the
// admissionregistration.k8s.io/v1 resources that configure dynamic
// admission: mutatingwebhookconfigurations, validatingwebhookconfigurations,
// validatingadmissionpolicies, validatingadmissionpolicybindings,
// mutatingadmissionpolicies and mutatingadmissionpolicybindings. It
// defaults and validates them (CEL expressions must compile; mutations
// with admission/celpatch's Object and JSONPatch types); the
// apiserver/admission package acts on them.
package admissionregistration
