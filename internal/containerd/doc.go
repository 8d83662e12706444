// Package containerd runs the node's container runtime: it writes a
// containerd configuration that keeps everything under skiff's data dir,
// starts containerd as a child process, restarts it if it dies, and stops
// it when skiff stops. It also imports image tarballs (the pause image,
// air-gapped images) into the CRI's namespace with containerd's own ctr,
// and mounts images read-only for the agent's image volumes (ImageMounter),
// with ctr too.
//
//	Run(ctx): write config -> start -> wait for socket -> ready
//	             ^                                     |
//	             +------ restart after backoff <- exit +
//
// Pods survive a containerd restart: runc's shims outlive it.
package containerd
