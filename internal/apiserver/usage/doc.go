// Package usage keeps the resource usage of nodes, pods and containers
// that the API server serves as metrics.k8s.io (kubectl top).
//
// The caller scrapes each node's stats Summary on a fixed period and hands
// it to Store.Update, then calls Store.Retain with the nodes it scraped so
// that nodes gone or unreachable stop being reported. The Store keeps the
// last two scrapes of every node; CPU usage is the rate of the cumulative
// CPU counter between them (core-nanoseconds per second, in nanocores),
// memory is the latest working set. A container that restarted, or whose
// counter went backwards, has no usage until the scrape after.
package usage
