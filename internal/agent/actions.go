package agent

import (
	"fmt"
	"sort"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// Back-off of restarted containers, as upstream: the first restart is
// immediate, then 10 s doubling up to 5 min.
const (
	backoffInitial = 10 * time.Second
	backoffMax     = 5 * time.Minute
)

// ActionKind names one step of a pod worker.
type ActionKind string

// The actions a pod worker applies through the Runtime and the API.
const (
	// CreateSandbox runs a new sandbox with Attempt.
	CreateSandbox ActionKind = "CreateSandbox"
	// StartContainer pulls Container's image, creates it with Attempt in
	// SandboxID and starts it.
	StartContainer ActionKind = "StartContainer"
	// KillContainer stops ContainerID with Grace.
	KillContainer ActionKind = "KillContainer"
	// StopSandbox stops SandboxID (its containers are already stopped).
	StopSandbox ActionKind = "StopSandbox"
	// RemoveContainer removes an exited ContainerID.
	RemoveContainer ActionKind = "RemoveContainer"
	// RemoveSandbox removes a stopped SandboxID and what remains in it.
	RemoveSandbox ActionKind = "RemoveSandbox"
	// DeletePod deletes the pod from the API with grace period 0, once
	// nothing of it runs any more.
	DeletePod ActionKind = "DeletePod"
	// ResizeContainer applies the pod's allocated resources to the
	// running ContainerID in place; the ResizeContainer and
	// ResizeRestart actions of one plan form one pod resize, with the pod
	// cgroup widened before and narrowed after them.
	ResizeContainer ActionKind = "ResizeContainer"
	// ResizeRestart kills the running ContainerID, whose resizePolicy
	// asks for a restart, and starts it again at once with Attempt and
	// its allocated resources.
	ResizeRestart ActionKind = "ResizeRestart"
)

// Action is one step; which fields matter depends on Kind.
type Action struct {
	Kind        ActionKind
	SandboxID   string
	ContainerID string
	// Container is the spec name of the container to start or kill.
	Container string
	// ContainerKind is the kind of the container to start.
	ContainerKind ContainerKind
	Attempt       uint32
	Grace         time.Duration
	// Reason says why, for logs and events (Unhealthy, Killing, ...).
	Reason string
}

// Observed is the runtime's view of one pod, plus what the prober found.
type Observed struct {
	Sandboxes  []Sandbox
	Containers []Container
	// Probes holds probe outcomes by container name, for the container
	// instance currently running.
	Probes map[string]ProbeState
	// Waiting holds, by container name, why the agent could not create a
	// container on its last try (CreateContainerConfigError, ...).
	Waiting map[string]corev1.ContainerStateWaiting
	// Actuated holds, by container name, the resources last applied to
	// the container's current instance (for in-place resize); nil when
	// the agent does not track them.
	Actuated map[string]corev1.ResourceRequirements
	// NoResize holds back in-place resizes: one failed in this sync.
	NoResize bool
}

// ProbeState is what the probes of one running container concluded.
type ProbeState struct {
	// ContainerID is the instance the results are about.
	ContainerID string
	// Ready is the readiness probe's result (true when it has none).
	Ready bool
	// Started is the startup probe's result (true when it has none).
	Started bool
	// LivenessFailed asks for a restart.
	LivenessFailed bool
}

// Plan is what computeActions decided.
type Plan struct {
	Actions []Action
	// RequeueAfter asks for another sync after a back-off (0: none).
	RequeueAfter time.Duration
	// BackOff names the containers waiting for their restart back-off,
	// for the BackOff event.
	BackOff []string
}

// computeActions decides the next step for one pod. pod is nil when the
// pod is gone from the API; otherwise its containers' resources are the
// agent's allocation (resize.go), not necessarily its spec's. It is pure: the pod worker applies the
// actions, observes again and calls it again until it returns none.
func computeActions(pod *corev1.Pod, obs Observed, now time.Time) Plan {
	if pod != nil && pod.DeletionTimestamp == nil && !podTerminal(pod) {
		if left, ok := deadlineLeft(pod, now); ok {
			if left <= 0 {
				// Past spec.activeDeadlineSeconds: everything stops, and
				// the status says Failed, DeadlineExceeded.
				return Plan{Actions: stopAll(pod, obs, gracePeriod(pod), ReasonDeadlineExceeded)}
			}
			plan := decide(pod, obs, now)
			if plan.RequeueAfter == 0 || left < plan.RequeueAfter {
				plan.RequeueAfter = left
			}
			return plan
		}
	}
	return decide(pod, obs, now)
}

// ReasonDeadlineExceeded is the reason of a pod that ran past its
// spec.activeDeadlineSeconds, and MessageDeadlineExceeded its message.
const (
	ReasonDeadlineExceeded  = "DeadlineExceeded"
	MessageDeadlineExceeded = "Pod was active on the node longer than the specified deadline"
)

// deadlineLeft is how long the pod may still run under its
// activeDeadlineSeconds, counted from its start time; ok is false when it
// has no deadline or has not started.
func deadlineLeft(pod *corev1.Pod, now time.Time) (left time.Duration, ok bool) {
	if pod.Spec.ActiveDeadlineSeconds == nil || pod.Status.StartTime == nil {
		return 0, false
	}
	end := pod.Status.StartTime.Add(time.Duration(*pod.Spec.ActiveDeadlineSeconds) * time.Second)
	return end.Sub(now), true
}

// decide is computeActions without the active deadline.
func decide(pod *corev1.Pod, obs Observed, now time.Time) Plan {
	if pod == nil || pod.DeletionTimestamp != nil {
		return teardown(pod, obs)
	}
	if pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed {
		return Plan{Actions: stopAll(pod, obs, gracePeriod(pod), "Terminated")}
	}
	byName := containersByName(obs.Containers)
	if finished(pod, byName) {
		// Every container ran to completion and will not restart: the pod
		// is done, stop its sidecars and its sandbox, and never recreate.
		return Plan{Actions: stopAll(pod, obs, gracePeriod(pod), "Completed")}
	}
	sb := latestSandbox(obs.Sandboxes)
	if sb == nil || sb.State != SandboxReady {
		if sb != nil && pod.Spec.RestartPolicy == corev1.RestartPolicyNever && len(obs.Containers) > 0 {
			// The sandbox died under containers that must not restart:
			// leave the pod to its status (Failed).
			return Plan{Actions: stopAll(nil, obs, 0, "SandboxChanged")}
		}
		if acts := stopAll(nil, obs, 0, "SandboxChanged"); len(acts) > 0 {
			return Plan{Actions: acts}
		}
		attempt := uint32(0)
		if sb != nil {
			attempt = sb.Attempt + 1
		}
		return Plan{Actions: []Action{{Kind: CreateSandbox, Attempt: attempt}}}
	}
	var plan Plan
	gc := garbage(byName)
	// Init containers, in order; sidecars must be started before the next.
	initialized := anyRegularCreated(pod, byName)
	if !initialized {
		done := true
		for i := range pod.Spec.InitContainers {
			c := &pod.Spec.InitContainers[i]
			insts := byName[c.Name]
			sidecar := isSidecar(c)
			kind := Init
			if sidecar {
				kind = Sidecar
			}
			if len(insts) == 0 {
				plan.Actions = append(plan.Actions, Action{Kind: StartContainer, SandboxID: sb.ID, Container: c.Name, ContainerKind: kind})
				done = false
				break
			}
			last := insts[0]
			switch last.State {
			case ContainerCreated, ContainerRunning, ContainerUnknown:
				if sidecar {
					if p := obs.Probes[c.Name]; last.State == ContainerRunning && p.LivenessFailed && p.ContainerID == last.ID {
						plan.Actions = append(plan.Actions, Action{Kind: KillContainer, ContainerID: last.ID, Container: c.Name, Grace: probeGrace(pod, c.LivenessProbe), Reason: "Unhealthy"})
						done = false
					} else if last.State == ContainerRunning && (c.StartupProbe == nil || probeStarted(obs, c.Name, last.ID)) {
						resize(&plan, pod, obs, c, kind, last)
						continue
					}
				}
				if last.State == ContainerRunning && !sidecar {
					resize(&plan, pod, obs, c, kind, last)
				}
				done = false
			case ContainerExited:
				if !sidecar && last.ExitCode == 0 {
					continue
				}
				done = false
				if !sidecar && pod.Spec.RestartPolicy == corev1.RestartPolicyNever {
					// A failed init container fails the pod.
					return Plan{Actions: stopAll(pod, obs, gracePeriod(pod), "InitFailed")}
				}
				restart(&plan, sb.ID, c.Name, kind, last, now)
			}
			break
		}
		if !done {
			plan.Actions = append(plan.Actions, gc...)
			return plan
		}
	}
	// Sidecars restart whatever the pod's restartPolicy.
	if initialized {
		for i := range pod.Spec.InitContainers {
			c := &pod.Spec.InitContainers[i]
			if !isSidecar(c) {
				continue
			}
			keepRunning(&plan, pod, obs, sb.ID, c, Sidecar, byName[c.Name], true, now)
		}
	}
	for i := range pod.Spec.Containers {
		c := &pod.Spec.Containers[i]
		keepRunning(&plan, pod, obs, sb.ID, c, Regular, byName[c.Name], shouldRestartPolicy(pod, byName[c.Name]), now)
	}
	// Ephemeral containers start once the pod runs, and never again.
	if initialized {
		for i := range pod.Spec.EphemeralContainers {
			name := pod.Spec.EphemeralContainers[i].Name
			if len(byName[name]) == 0 {
				plan.Actions = append(plan.Actions, Action{Kind: StartContainer, SandboxID: sb.ID, Container: name, ContainerKind: Ephemeral})
			}
		}
	}
	plan.Actions = append(plan.Actions, gc...)
	return plan
}

// ephemeralContainer is the pod's ephemeral container name as a
// container, or nil.
func ephemeralContainer(pod *corev1.Pod, name string) *corev1.Container {
	for i := range pod.Spec.EphemeralContainers {
		if pod.Spec.EphemeralContainers[i].Name == name {
			return (*corev1.Container)(&pod.Spec.EphemeralContainers[i].EphemeralContainerCommon)
		}
	}
	return nil
}

// finished reports whether every regular container ran to completion and
// will not be restarted, or an init container failed under restartPolicy
// Never: the pod is terminal.
func finished(pod *corev1.Pod, byName map[string][]Container) bool {
	if pod.Spec.RestartPolicy == corev1.RestartPolicyNever {
		for i := range pod.Spec.InitContainers {
			c := &pod.Spec.InitContainers[i]
			if insts := byName[c.Name]; !isSidecar(c) && len(insts) > 0 && insts[0].State == ContainerExited && insts[0].ExitCode != 0 {
				return true
			}
		}
	}
	if len(pod.Spec.Containers) == 0 {
		return false
	}
	for _, c := range pod.Spec.Containers {
		insts := byName[c.Name]
		if len(insts) == 0 || insts[0].State != ContainerExited || shouldRestartPolicy(pod, insts) {
			return false
		}
	}
	return true
}

// keepRunning adds the actions that keep one container running, start it,
// or restart it after back-off.
func keepRunning(plan *Plan, pod *corev1.Pod, obs Observed, sandboxID string, c *corev1.Container, kind ContainerKind, insts []Container, restartIt bool, now time.Time) {
	if len(insts) == 0 {
		plan.Actions = append(plan.Actions, Action{Kind: StartContainer, SandboxID: sandboxID, Container: c.Name, ContainerKind: kind})
		return
	}
	last := insts[0]
	switch last.State {
	case ContainerRunning:
		if p := obs.Probes[c.Name]; p.LivenessFailed && p.ContainerID == last.ID {
			plan.Actions = append(plan.Actions, Action{Kind: KillContainer, ContainerID: last.ID, Container: c.Name, Grace: probeGrace(pod, c.LivenessProbe), Reason: "Unhealthy"})
			return
		}
		resize(plan, pod, obs, c, kind, last)
	case ContainerExited:
		if restartIt {
			restart(plan, sandboxID, c.Name, kind, last, now)
		}
	}
}

// resize adds the in-place resize of a running container whose actuated
// resources differ from its allocated ones: an update, or a restart when
// its resizePolicy asks for one (as upstream, whatever the back-off).
func resize(plan *Plan, pod *corev1.Pod, obs Observed, c *corev1.Container, kind ContainerKind, last Container) {
	act, ok := obs.Actuated[c.Name]
	if !ok || obs.NoResize {
		return
	}
	update, restart := resizeNeeded(c, act)
	switch {
	case restart:
		plan.Actions = append(plan.Actions, Action{Kind: ResizeRestart, SandboxID: last.SandboxID, ContainerID: last.ID, Container: c.Name, ContainerKind: kind,
			Attempt: last.Attempt + 1, Grace: gracePeriod(pod), Reason: "Resize"})
	case update:
		plan.Actions = append(plan.Actions, Action{Kind: ResizeContainer, ContainerID: last.ID, Container: c.Name, ContainerKind: kind})
	}
}

// restart starts a new instance of an exited container now, or asks to be
// called again when its back-off has passed.
func restart(plan *Plan, sandboxID, name string, kind ContainerKind, last Container, now time.Time) {
	if wait := backoffRemaining(last, now); wait > 0 {
		if plan.RequeueAfter == 0 || wait < plan.RequeueAfter {
			plan.RequeueAfter = wait
		}
		plan.BackOff = append(plan.BackOff, name)
		return
	}
	plan.Actions = append(plan.Actions, Action{Kind: StartContainer, SandboxID: sandboxID, Container: name, ContainerKind: kind, Attempt: last.Attempt + 1})
}

// backoffDelay is how long after the exit of instance attempt the next one
// may start: immediately after the first, then 10 s doubling to 5 min.
func backoffDelay(attempt uint32) time.Duration {
	if attempt == 0 {
		return 0
	}
	d := backoffInitial
	for i := uint32(1); i < attempt && d < backoffMax; i++ {
		d *= 2
	}
	return min(d, backoffMax)
}

// backoffRemaining is how long an exited container must still wait.
func backoffRemaining(last Container, now time.Time) time.Duration {
	return max(last.FinishedAt.Add(backoffDelay(last.Attempt)).Sub(now), 0)
}

// shouldRestartPolicy applies the pod's restartPolicy to a container's
// latest instance.
func shouldRestartPolicy(pod *corev1.Pod, insts []Container) bool {
	switch pod.Spec.RestartPolicy {
	case corev1.RestartPolicyNever:
		return false
	case corev1.RestartPolicyOnFailure:
		return len(insts) > 0 && insts[0].ExitCode != 0
	}
	return true
}

// teardown stops everything of a pod being deleted (or gone), removes it
// from the runtime, then deletes the pod from the API.
func teardown(pod *corev1.Pod, obs Observed) Plan {
	grace := time.Duration(0)
	if pod != nil {
		grace = gracePeriod(pod)
		if pod.DeletionGracePeriodSeconds != nil {
			grace = time.Duration(*pod.DeletionGracePeriodSeconds) * time.Second
		}
	}
	if acts := stopAll(pod, obs, grace, "Killing"); len(acts) > 0 {
		return Plan{Actions: acts}
	}
	var plan Plan
	for _, sb := range obs.Sandboxes {
		plan.Actions = append(plan.Actions, Action{Kind: RemoveSandbox, SandboxID: sb.ID})
	}
	if pod != nil {
		plan.Actions = append(plan.Actions, Action{Kind: DeletePod})
	}
	return plan
}

// stopAll kills every running container, then stops every ready sandbox.
// As upstream, a pod's sidecars (restartable init containers) outlive its
// other containers, whose preStop hooks may still need them, and stop one
// at a time in the reverse of their order; without the pod (gone from the
// API, or a dead sandbox) everything stops at once.
func stopAll(pod *corev1.Pod, obs Observed, grace time.Duration, reason string) []Action {
	sidecars := map[string]int{}
	if pod != nil {
		for i := range pod.Spec.InitContainers {
			if isSidecar(&pod.Spec.InitContainers[i]) {
				sidecars[pod.Spec.InitContainers[i].Name] = i
			}
		}
	}
	var acts []Action
	last := -1
	var lastSidecar Action
	for _, c := range obs.Containers {
		if c.State != ContainerRunning && c.State != ContainerCreated && c.State != ContainerUnknown {
			continue
		}
		kill := Action{Kind: KillContainer, ContainerID: c.ID, Container: c.Name, Grace: grace, Reason: reason}
		if i, ok := sidecars[c.Name]; ok {
			if i > last {
				last, lastSidecar = i, kill
			}
			continue
		}
		acts = append(acts, kill)
	}
	if len(acts) == 0 && last >= 0 {
		acts = append(acts, lastSidecar)
	}
	if len(acts) > 0 {
		return acts
	}
	for _, sb := range obs.Sandboxes {
		if sb.State == SandboxReady {
			acts = append(acts, Action{Kind: StopSandbox, SandboxID: sb.ID, Reason: reason})
		}
	}
	return acts
}

// garbage removes exited instances older than the latest two of each
// container: the latest two give state and lastState.
func garbage(byName map[string][]Container) []Action {
	var acts []Action
	names := make([]string, 0, len(byName))
	for n := range byName {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		for _, c := range byName[n][min(2, len(byName[n])):] {
			if c.State == ContainerExited {
				acts = append(acts, Action{Kind: RemoveContainer, ContainerID: c.ID, Container: n})
			}
		}
	}
	return acts
}

// anyRegularCreated reports whether initialization already finished once:
// upstream never runs init containers again after a container started.
func anyRegularCreated(pod *corev1.Pod, byName map[string][]Container) bool {
	for _, c := range pod.Spec.Containers {
		if len(byName[c.Name]) > 0 {
			return true
		}
	}
	return false
}

func probeStarted(obs Observed, name, id string) bool {
	p, ok := obs.Probes[name]
	return ok && p.ContainerID == id && p.Started
}

// containersByName groups instances by container name, newest first.
func containersByName(cs []Container) map[string][]Container {
	out := map[string][]Container{}
	for _, c := range cs {
		out[c.Name] = append(out[c.Name], c)
	}
	for _, l := range out {
		sort.Slice(l, func(i, j int) bool {
			if l[i].Attempt != l[j].Attempt {
				return l[i].Attempt > l[j].Attempt
			}
			return l[i].CreatedAt.After(l[j].CreatedAt)
		})
	}
	return out
}

func latestSandbox(sbs []Sandbox) *Sandbox {
	var out *Sandbox
	for i := range sbs {
		if out == nil || sbs[i].Attempt > out.Attempt || sbs[i].Attempt == out.Attempt && sbs[i].CreatedAt.After(out.CreatedAt) {
			out = &sbs[i]
		}
	}
	return out
}

func isSidecar(c *corev1.Container) bool {
	return c.RestartPolicy != nil && *c.RestartPolicy == corev1.ContainerRestartPolicyAlways
}

func gracePeriod(pod *corev1.Pod) time.Duration {
	if pod.Spec.TerminationGracePeriodSeconds != nil {
		return time.Duration(*pod.Spec.TerminationGracePeriodSeconds) * time.Second
	}
	return corev1.DefaultTerminationGracePeriodSeconds * time.Second
}

func probeGrace(pod *corev1.Pod, p *corev1.Probe) time.Duration {
	if p != nil && p.TerminationGracePeriodSeconds != nil {
		return time.Duration(*p.TerminationGracePeriodSeconds) * time.Second
	}
	return gracePeriod(pod)
}

// backoffMessage is upstream's CrashLoopBackOff waiting message.
func backoffMessage(pod *corev1.Pod, name string, d time.Duration) string {
	return fmt.Sprintf("back-off %s restarting failed container=%s pod=%s_%s(%s)", d, name, pod.Name, pod.Namespace, pod.UID)
}
