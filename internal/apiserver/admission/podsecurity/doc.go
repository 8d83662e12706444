// Package podsecurity is the pure half of the PodSecurity admission
// plugin: the Pod Security Standards' baseline and restricted controls as
// checks on a pod's metadata and spec, each as it was at every Kubernetes
// minor version where it changed (Evaluator); the policy a namespace's
// pod-security.kubernetes.io labels set (PolicyFromLabels); and upstream's
// PodSecurityConfiguration (defaults and exemptions).
//
// The checks' messages are upstream's, word for word, since clients and
// tests read them:
//
//	Evaluate(restricted:latest, pod) ─► Violations.Details():
//	  host namespaces (hostNetwork=true), allowPrivilegeEscalation != false (container "c" must ...)
//
// Baseline controls are reported first, then restricted ones, each group
// in the order of the controls' IDs. Restricted includes baseline, except
// where a restricted control replaces a baseline one (restrictedVolumes
// replaces hostPathVolumes, and so on). The admission plugin that applies
// a namespace's policy to requests is admission's podSecurity.
package podsecurity
