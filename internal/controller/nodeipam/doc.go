// Package nodeipam gives every Node a pod CIDR: the next free subnet of
// the cluster CIDR (10.42.0.0/16 cut into /24s by default), written once to
// spec.podCIDR and spec.podCIDRs. A node's subnet is free again once the
// node is deleted.
//
// The allocator is rebuilt from the nodes in the cache plus the subnets
// this controller has handed out but not yet seen come back, so two nodes
// synced at once, or a cache behind its own writes, never share a subnet.
package nodeipam
