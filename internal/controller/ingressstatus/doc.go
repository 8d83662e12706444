// Package ingressstatus publishes where the built-in ingress controller
// answers: every Ingress of an IngressClass whose controller is skiff's
// (ingress.ControllerName), or with no class while skiff's class is the
// default, gets the addresses of the cluster's nodes as
// status.loadBalancer.ingress, as a LoadBalancer Service does from
// servicelb. Every node runs the ingress controller (unless --disable
// ingress), so every serving node's address reaches it.
//
// Which nodes serve, and at which addresses, follows the same rules as
// servicelb's (package lbnodes): a node serves when it is Ready,
// schedulable, not being deleted and not labelled
// node.kubernetes.io/exclude-from-external-load-balancers; it contributes,
// per IP family, its ExternalIPs, or its InternalIPs when it has none. The
// list is sorted and deduplicated.
//
// The loop is the usual one, keyed by Ingress:
//
//	Ingress event ───────────────────────────────────┐
//	IngressClass event ──────────────────────────────┤
//	Node added/deleted, eligibility or addresses ─────┴─► Add(ns/name) ─► sync
//
// sync computes Desired (pure, in status.go) and writes the status
// through the ingresses/status subresource only when it differs. An
// Ingress of another controller's class is never touched.
package ingressstatus
