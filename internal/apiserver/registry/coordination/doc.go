// Package coordination holds the strategy of coordination.k8s.io/v1 leases,
// which node heartbeats and leader election write.
package coordination
