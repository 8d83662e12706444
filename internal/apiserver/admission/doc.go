// Package admission is the API server's admission chain: one Plugin
// interface, one file per built-in plugin, and the dynamic plugins
// (mutating and validating webhooks, webhook.go; ValidatingAdmissionPolicies,
// policy.go; MutatingAdmissionPolicies, mutatingpolicy.go, whose CEL
// patch types live in celpatch) in the same chain. New builds the chain in its fixed order.
//
// Plugins mutate (Mutator), validate (Validator) or both; the API server
// calls the chain twice per write, as upstream does:
//
//	decode ─► defaults ─► Admit: the mutating phase (built-in plugins,
//	          mutating admission policies, then mutating webhooks in
//	          order, each may send a JSONPatch)
//	       ─► defaults again if a webhook replaced the object ─► validation
//	       ─► Validate: the validating phase (built-in checks, validating
//	          webhooks in parallel, policies, ResourceQuota last)
//	       ─► storage
//
// Deletes pass Admit (NamespaceLifecycle, and webhooks, which can only
// deny) and Validate with the stored object as oldObject; CONNECTs to a
// pod's exec, attach and portforward are admitted with their options as
// the object; a TokenRequest (serviceaccounts/token) and an Eviction
// (pods/eviction) are admitted as creates of their subresource, with
// their own kind. NodeRestriction keeps nodes to their own objects: it
// sees what the Node authorizer let through by name only.
//
// Plugins read objects through the Objects interface, from the API
// server's own watch cache, so configuration changes (webhooks, policies,
// quotas) apply as soon as the cache sees them; NamespaceLifecycle and
// ResourceQuota read and write through the Namespaces and Quotas
// interfaces the API server implements. Requests on the admission
// configuration resources themselves are exempt from the dynamic
// plugins, so that a broken webhook can always be removed.
//
// PodSecurity (podsecurity.go, its checks in package podsecurity) applies
// the pod-security.kubernetes.io namespace labels as upstream does, with
// the defaults and exemptions of the admission configuration file
// (ReadConfigFile, upstream's --admission-control-config-file). Plugins
// report audit annotations through WithAuditAnnotations; skiff keeps no
// audit log yet, so the API server writes them to its debug log.
//
// Not done: reinvocationPolicy IfNeeded (mutating webhooks run once, in
// order), matchPolicy Equivalent across API versions (skiff serves one
// version of most resources, so rules match the requested version
// exactly), policies' and webhooks' audit annotations, the `authorizer`
// CEL variable, and type checking of policies into status.
package admission
