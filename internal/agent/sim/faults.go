package sim

import (
	"k8s.io/apimachinery/pkg/types"

	"skiff/internal/agent"
)

// FailPulls makes every pull of image fail with err, as an unreachable
// registry or a missing tag would, and ImageStatus report it absent; a
// nil err lifts the fault.
func (r *Runtime) FailPulls(image string, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err == nil {
		delete(r.pullFaults, image)
		return
	}
	r.pullFaults[image] = err
}

// CrashSandbox makes the pod's ready sandboxes die on their own, as when
// a sandbox's pause process is killed: each turns NotReady, its containers
// exit with code 137, and the subscriber hears of it. It returns how many
// sandboxes crashed.
func (r *Runtime) CrashSandbox(podUID types.UID) int {
	r.mu.Lock()
	n := 0
	if p := r.byPod[podUID]; p != nil {
		for _, sb := range p.sandboxes {
			if sb.State != agent.SandboxReady {
				continue
			}
			for _, c := range p.containers {
				if c.SandboxID == sb.ID {
					r.exit(c, 137, "Error")
				}
			}
			for _, ip := range sb.IPs {
				delete(r.usedIPs, ip)
			}
			sb.State = agent.SandboxNotReady
			n++
		}
	}
	fn := r.notify
	r.mu.Unlock()
	if n > 0 && fn != nil {
		fn(podUID)
	}
	return n
}

// FailResourceUpdates makes every UpdateContainerResources fail with
// err, as a runtime that refuses a resize would; nil lifts the fault.
func (r *Runtime) FailResourceUpdates(err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.updateFault = err
}
