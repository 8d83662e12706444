// Package servicelb is skiff's built-in service load balancer: it gives
// every Service of type LoadBalancer without a spec.loadBalancerClass the
// addresses of the cluster's nodes as status.loadBalancer.ingress.
//
// No helper pods are needed, unlike k3s's: skiff's service proxy already
// answers on every node for a LoadBalancer Service's ingress IPs, so
// publishing the node addresses is the whole job. A node serves when it is
// Ready, schedulable and not labelled node.kubernetes.io/exclude-from-
// external-load-balancers; it contributes, per IP family the Service
// allows, its ExternalIPs, or its InternalIPs when it has none. The list
// is sorted and deduplicated, each entry with ipMode VIP.
//
// The loop is the usual one, keyed by Service:
//
//	Service event ───────────────────────────────┐
//	Node added/deleted, eligibility or addresses ─┴─► Add(ns/name) ─► sync
//
// sync computes Desired(service, nodes) (pure, in ingress.go) and writes
// status.loadBalancer through the services/status subresource only when it
// differs, recording EnsuringLoadBalancer and EnsuredLoadBalancer events
// as upstream's service controller does. A Service that is no longer of
// type LoadBalancer has its ingress cleared (DeletedLoadBalancer); a
// Service with a loadBalancerClass belongs to another implementation and
// is never touched.
package servicelb
