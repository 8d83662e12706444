// Package cri implements the node agent's Runtime over the Container
// Runtime Interface (k8s.io/cri-api) of a containerd that skiff
// supervises (or any CRI endpoint given by --container-runtime-endpoint).
//
// It translates the agent's sandbox and container calls into CRI requests,
// labels everything it creates with the pod's identity so that an agent
// restarted later finds and adopts what is running, and, because
// containerd 1.6 has no container event stream, polls the container list to
// tell the agent when a container changes state on its own.
package cri
