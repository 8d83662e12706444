// Package networking holds the strategies of networking.k8s.io/v1:
// ingresses, ingressclasses, networkpolicies, ipaddresses and servicecidrs.
package networking
