// Package sim is a container runtime that only pretends, for simulated
// nodes: the agent runs unchanged on top of it, so the API sees nodes that
// register, heartbeat and run pods, without a single container.
//
// A pretend container goes Created -> Running after Config.StartDelay and,
// when it is meant to finish (init containers at once; containers of pods
// with restartPolicy Never or OnFailure, or any pod annotated
// sim.skiff.dev/exit-code, after Config.RunTime), Running -> Exited. Each
// transition is a runtime timer (time.AfterFunc: no goroutine while it
// waits) that tells the agent through Subscribe.
//
// Cluster runs many simulated nodes in one process: one shared Pool of
// workers, one client (one HTTP/2 connection), one watch on bound pods and
// one on nodes dispatched by node name.
package sim
