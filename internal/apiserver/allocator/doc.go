// Package allocator hands out Services' ClusterIPs and NodePorts.
//
// Every allocated address and port is a reservation key in the store
// (/registry/ranges/serviceips/<ip>, /registry/ranges/servicenodeports/<port>),
// created with the store's compare-and-swap Create, so two API servers
// never hand out the same one. The API server calls it from its generic
// store: Create on a Service create (its undo releases what was taken if
// the create fails later), Update on an update, Release once a Service is
// gone. A dry run only checks that what it would take is free.
package allocator
