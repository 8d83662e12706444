// Package bench measures a running Kubernetes API server the way skiff's
// performance targets are stated: time from launch to /readyz, resident
// memory when idle, and create/get/list/watch throughput and latency under
// concurrent clients. It speaks only the Kubernetes API (client-go), so it
// can measure any API server, not just skiff's.
package bench
