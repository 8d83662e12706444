// Package ctrltest runs controllers against a real in-process skiff
// control plane for integration tests, with a small simulated node that
// plays scheduler and kubelet: it binds pending pods to fake nodes and
// marks bound pods Running and Ready, or Succeeded/Failed on demand.
//
// A test calls Start, creates nodes with Env.Node, runs its controller
// with Env.Run and waits for what a user would see with Env.Wait.
package ctrltest
