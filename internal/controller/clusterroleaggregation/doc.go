// Package clusterroleaggregation fills the rules of aggregated
// ClusterRoles, as upstream's clusterrole-aggregation controller does.
//
// A ClusterRole with an aggregationRule holds the union of the rules of
// the other ClusterRoles its selectors match: selectors in order, matched
// roles by name, each distinct rule once. Any ClusterRole change requeues
// every aggregated role, since any may now match differently; the sync
// writes .rules by server-side apply (field manager
// clusterrole-aggregation-controller, forced) only when they differ.
package clusterroleaggregation
