// Package admissionregistration holds the strategies of the
// admissionregistration.k8s.io/v1 resources that configure dynamic
// admission: mutatingwebhookconfigurations, validatingwebhookconfigurations,
// validatingadmissionpolicies and validatingadmissionpolicybindings. It
// defaults and validates them (CEL expressions must compile); the
// apiserver/admission package acts on them.
package admissionregistration
