// Package bench measures a running Kubernetes API server the way skiff's
// performance targets are stated: time from launch to /readyz, resident
// memory when idle, and create/get/list/watch throughput and latency under
// concurrent clients. It speaks only the Kubernetes API (client-go), so it
// can measure any API server, not just skiff's.
//
// RunScale is the load test (`skiff bench scale`), shaped like
// clusterloader2's: PlanLoad sizes the workloads (a pure function of
// nodes, pods per node and namespaces), then five phases run one after
// the other, each first sending its requests (Clients at a time) and then
// waiting until the cluster has done what they asked:
//
//	create ──> scale-up ──> scale-down ──> rollout ──> delete
//	 every pod Running from the current pod template      │
//	 (a pod informer counts them per workload)            every namespace
//	                                                      and pod gone
//
// delete runs even when an earlier phase failed, so a run leaves nothing
// behind. Every request goes through a CallRecorder (a RoundTripper that
// times it until its body is read and names its verb, resource and
// scope), and the summary judges each kind of call against upstream's API
// call latency SLO. The pod informer also times pod startup, from the
// event that shows a pod created to the one that shows it Running (a
// pod's creationTimestamp has only second resolution). When the server's
// process id is known, its resident memory and CPU are sampled from /proc
// once a second. ScaleResult writes the tables (WriteReport) and an SVG
// plot of both over time (WriteSVG).
package bench
