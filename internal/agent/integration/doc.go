// Package integration holds the agent's integration tests: an in-process
// control plane (internal/server, no agent of its own) with agents on the
// sim runtime, and the memory measurement of many simulated nodes
// (SKIFF_SIM_NODES=5000 go test -run TestMemoryOfManyNodes -v, with
// SKIFF_SIM_KUBECONFIG to measure against a server in another process).
// They live apart from agent/sim so that the sim runtime's unit tests do
// not link the whole control plane.
package integration
