// Package runtimetest is the contract suite of agent.Runtime: every
// implementation (agent/sim, agent/cri on a real containerd) passes
//
//	runtimetest.Run(t, func(t *testing.T) agent.Runtime { ... })
//
// It drives sandboxes and containers through their lifecycle, checks what
// the runtime lists at each step, that stopping and removing are
// idempotent, and that a missing sandbox or container is reported with an
// error wrapping agent.ErrNotFound. The runtime must be able to run Image
// with Command (a real runtime: import the busybox test image first) and
// sandboxes on the host network.
package runtimetest
