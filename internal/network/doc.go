// Package network configures the node's pod network: the CNI configuration
// containerd uses to give every pod sandbox an address on the node's bridge
// from the node's podCIDR (bridge + host-local + portmap).
package network
