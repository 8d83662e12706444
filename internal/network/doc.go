// Package network configures the node's pod network: the CNI configuration
// containerd uses to give every pod sandbox an address on the node's bridge
// from the node's podCIDR (bridge + host-local + portmap), and the routes
// between nodes (routes.go): every other node's podCIDR via that node's
// InternalIP (host-gw, no encapsulation, no NAT), plus an unreachable route
// for the whole cluster CIDR. DesiredRoutes and DiffRoutes are pure; Router
// applies their result with the `ip` command, touching only routes tagged
// with RouteProtocol.
package network
