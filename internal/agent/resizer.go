package agent

import (
	"context"
	"fmt"
	"path"
	"slices"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
)

// The effectful side of in-place resize (resize.go has the decisions):
// admitting a resize into the allocation, actuating it on the pod cgroup
// and the containers, and the resize conditions and events.

// allocatedPod returns pod with its containers' resources the agent's
// allocation (pod itself when they are the same or it has none).
func (a *Agent) allocatedPod(pod *corev1.Pod) *corev1.Pod {
	if pod == nil {
		return nil
	}
	p, _ := withAllocation(pod, a.alloc.allocated(pod.UID))
	return p
}

// otherAllocatedPods are the admitted, running pods of the node other
// than uid, with their allocated resources.
func (a *Agent) otherAllocatedPods(uid types.UID) []*corev1.Pod {
	a.mu.Lock()
	var others []*corev1.Pod
	for u, o := range a.pods {
		if u != uid && o.admitted && o.pod != nil && !podTerminal(o.pod) && o.pod.DeletionTimestamp == nil {
			others = append(others, o.pod)
		}
	}
	a.mu.Unlock()
	for i, p := range others {
		others[i] = a.allocatedPod(p)
	}
	return others
}

// ensureAllocation records an admitted pod's resources as its allocation
// when it has none (a new pod, or one from before the checkpoint), and
// its actuated resources likewise.
func (a *Agent) ensureAllocation(pod *corev1.Pod) {
	alloc := a.alloc.allocated(pod.UID)
	if alloc == nil {
		alloc = allocationOf(pod)
		if err := a.alloc.setAllocated(pod.UID, alloc); err != nil {
			a.log.Warn("checkpoint pod allocation", "pod", podRef(pod), "err", err)
		}
	}
	if err := a.alloc.initActuated(pod.UID, alloc); err != nil {
		a.log.Warn("checkpoint pod allocation", "pod", podRef(pod), "err", err)
	}
}

// admitResize handles a spec whose resources differ from the allocation:
// it allocates them when the node has room (PodResizeInProgress, event
// ResizeStarted), else sets PodResizePending. It returns the pod with its
// (possibly new) allocation.
func (a *Agent) admitResize(e *podEntry, pod *corev1.Pod) *corev1.Pod {
	now := a.cfg.Clock.Now()
	a.mu.Lock()
	if !e.resizeLoaded {
		e.resize, e.resizeLoaded = resizeBackfill(pod.Status), true
	}
	a.mu.Unlock()
	apod, differs := withAllocation(pod, a.alloc.allocated(pod.UID))
	if !differs {
		a.mu.Lock()
		e.resize.pending = nil // a resize that was reverted
		a.mu.Unlock()
		return apod
	}
	v := decideResize(pod, a.otherAllocatedPods(pod.UID), a.cfg.Capacity)
	if !v.Accept {
		a.mu.Lock()
		changed := e.resize.setPending(v.Reason, v.Message, pod.Generation, now)
		a.mu.Unlock()
		if changed {
			reason := EventResizeDeferred
			if v.Reason == corev1.PodReasonInfeasible {
				reason = EventResizeInfeasible
			}
			a.podEvent(pod, corev1.EventTypeWarning, reason, resizeMessage("Pod resize "+v.Reason, pod, pod.Generation, v.Message))
		}
		return apod
	}
	if err := a.alloc.setAllocated(pod.UID, allocationOf(pod)); err != nil {
		a.log.Warn("checkpoint pod allocation", "pod", podRef(pod), "err", err)
		return apod
	}
	a.mu.Lock()
	e.resize.pending = nil
	e.resize.clearInProgress()
	e.resize.setInProgress("", "", pod.Generation, now)
	a.mu.Unlock()
	a.podEvent(pod, corev1.EventTypeNormal, EventResizeStarted, resizeMessage("Pod resize started", pod, pod.Generation, ""))
	// A resize may have made room for the deferred ones.
	a.retryDeferred(pod.UID)
	return pod
}

// retryDeferred queues a sync of every pod but except whose resize is
// deferred.
func (a *Agent) retryDeferred(except types.UID) {
	a.mu.Lock()
	var uids []string
	for uid, e := range a.pods {
		if e.resize.pending != nil && e.resize.pending.Reason == corev1.PodReasonDeferred && uid != except {
			uids = append(uids, string(uid))
		}
	}
	a.mu.Unlock()
	for _, uid := range uids {
		a.pool.add(item{a: a, kind: itemPod, key: uid})
	}
}

// noteResizeProgress sets or clears PodResizeInProgress after a sync,
// from what the runtime runs (event ResizeCompleted when it clears).
func (a *Agent) noteResizeProgress(e *podEntry, pod *corev1.Pod, obs Observed) {
	inProgress := resizeInProgress(pod, obs)
	a.mu.Lock()
	var gen int64
	cleared := false
	if inProgress {
		e.resize.setInProgress("", "", pod.Generation, a.cfg.Clock.Now())
	} else {
		gen, cleared = e.resize.clearInProgress()
	}
	a.mu.Unlock()
	if cleared {
		a.podEvent(pod, corev1.EventTypeNormal, EventResizeCompleted, resizeMessage("Pod resize completed", pod, gen, ""))
	}
}

// resizeFailed records a failed actuation: PodResizeInProgress with
// reason Error and event ResizeError.
func (a *Agent) resizeFailed(pod *corev1.Pod, err error) {
	a.mu.Lock()
	var changed bool
	var gen int64
	if e := a.pods[pod.UID]; e != nil {
		changed = e.resize.setInProgress(corev1.PodReasonError, err.Error(), pod.Generation, a.cfg.Clock.Now())
		gen = e.resize.inProgress.ObservedGeneration
	}
	a.mu.Unlock()
	if changed {
		a.podEvent(pod, corev1.EventTypeWarning, EventResizeError, resizeMessage("Pod resize error", pod, gen, err.Error()))
	}
}

// resizePod actuates one pod resize (the plan's ResizeContainer and
// ResizeRestart actions) as upstream's doPodResizeAction does: the
// containers to restart are killed, then memory and then cpu are
// resized, each with the pod cgroup widened before the containers and
// narrowed after them, decreases before increases, and what was applied
// recorded; then the restarted containers start with their new
// resources. It stops at the first error, which the next sync retries.
func (a *Agent) resizePod(ctx context.Context, pod *corev1.Pod, ps *podSetup, acts []Action) error {
	var updates, restarts []Action
	for _, act := range acts {
		switch act.Kind {
		case ResizeContainer:
			updates = append(updates, act)
		case ResizeRestart:
			restarts = append(restarts, act)
		}
	}
	for _, act := range restarts {
		a.containerEvent(pod, act.Container, corev1.EventTypeNormal, EventKilling, fmt.Sprintf("Container %s resize requires restart", act.Container))
		if err := a.killContainer(ctx, pod, Action{Kind: KillContainer, ContainerID: act.ContainerID, Container: act.Container, Grace: act.Grace, Reason: act.Reason}); err != nil {
			return err
		}
	}
	if err := a.resizeResources(ctx, pod, updates); err != nil {
		return err
	}
	for _, act := range restarts {
		if err := a.startContainer(ctx, pod, ps, Action{Kind: StartContainer, SandboxID: act.SandboxID, Container: act.Container, ContainerKind: act.ContainerKind, Attempt: act.Attempt}); err != nil {
			return err
		}
	}
	return nil
}

// resizeResources resizes the pod cgroup and updates the containers of
// updates in place, memory first, then cpu.
func (a *Agent) resizeResources(ctx context.Context, pod *corev1.Pod, updates []Action) error {
	actuated := a.alloc.actuated(pod.UID)
	want := podCgroup(a.cfg.CgroupRoot, pod)
	var cur PodCgroup
	if a.cgroups != nil {
		var err error
		if cur, err = a.cgroups.read(want.Path); err != nil {
			return err
		}
		// Limits a pod does not have (some container has none) stay as
		// they are, as upstream: validation keeps limits from going away.
		if want.MemoryLimit == 0 {
			want.MemoryLimit = cur.MemoryLimit
		}
		if want.CPUQuota == 0 {
			want.CPUQuota, want.CPUPeriod = cur.CPUQuota, cur.CPUPeriod
		}
	}
	var memCapacity int64
	if m, ok := a.cfg.Capacity[corev1.ResourceMemory]; ok {
		memCapacity = m.Value()
	}
	spec := func(name string) *corev1.Container {
		if c := specContainer(pod.Spec.Containers, name); c != nil {
			return c
		}
		return specContainer(pod.Spec.InitContainers, name)
	}
	// phase updates the containers' resource name to their allocation,
	// decreases first, between the pod cgroup's widening and narrowing.
	phase := func(name corev1.ResourceName, widen, narrow func() error) error {
		type step struct {
			act  Action
			next corev1.ResourceRequirements
			down bool
		}
		var steps []step
		for _, act := range updates {
			c := spec(act.Container)
			if c == nil {
				continue
			}
			have := actuated[act.Container]
			next := mergeResource(have, c.Resources, name)
			hv, nv := valuesOf(have), valuesOf(next)
			if hv == nv {
				continue
			}
			down := nv.memLim < hv.memLim || nv.memLim == hv.memLim && nv.memReq < hv.memReq
			if name == corev1.ResourceCPU {
				down = nv.cpuLim < hv.cpuLim || nv.cpuLim == hv.cpuLim && nv.cpuReq < hv.cpuReq
			}
			steps = append(steps, step{act, next, down})
		}
		slices.SortStableFunc(steps, func(x, y step) int {
			switch {
			case x.down == y.down:
				return 0
			case x.down:
				return -1
			}
			return 1
		})
		if err := widen(); err != nil {
			return err
		}
		for _, s := range steps {
			c := spec(s.act.Container).DeepCopy()
			c.Resources = s.next
			if err := a.cfg.Runtime.UpdateContainerResources(ctx, s.act.ContainerID, containerResources(pod, c, memCapacity)); err != nil {
				return err
			}
			actuated[s.act.Container] = s.next
			if err := a.alloc.setActuated(pod.UID, s.act.Container, s.next); err != nil {
				return err
			}
		}
		return narrow()
	}
	none := func() error { return nil }
	memWiden, memNarrow, cpuWiden, cpuNarrow := none, none, none, none
	if a.cgroups != nil {
		more := func(x, y int64) bool { return (x == 0) != (y == 0) && x == 0 || x != 0 && y != 0 && x > y }
		if want.MemoryLimit != cur.MemoryLimit {
			set := func() error { return a.cgroups.setMemoryLimit(want) }
			if more(want.MemoryLimit, cur.MemoryLimit) {
				memWiden = set
			} else {
				memNarrow = set
			}
		}
		// Memory limits do not go below what is in use.
		var changes []memoryChange
		for _, act := range updates {
			if c := spec(act.Container); c != nil {
				changes = append(changes, memoryChange{name: act.Container, want: c.Resources.Limits.Memory().Value(),
					have: valuesOf(actuated[act.Container]).memLim, usage: a.cgroups.memoryUsage(path.Join(want.Path, act.ContainerID))})
			}
		}
		pm := memoryChange{want: want.MemoryLimit, have: cur.MemoryLimit, usage: a.cgroups.memoryUsage(want.Path)}
		if err := checkMemoryDecrease(pm, changes); err != nil {
			return err
		}
		quotaUp := want.CPUQuota != cur.CPUQuota && more(want.CPUQuota, cur.CPUQuota)
		quotaDown := want.CPUQuota != cur.CPUQuota && !quotaUp
		sharesUp, sharesDown := want.CPUShares > cur.CPUShares, want.CPUShares < cur.CPUShares
		cpuWiden = func() error {
			if quotaUp {
				if err := a.cgroups.setCPULimit(want); err != nil {
					return err
				}
			}
			if sharesUp {
				return a.cgroups.setCPUShares(want)
			}
			return nil
		}
		cpuNarrow = func() error {
			if sharesDown {
				if err := a.cgroups.setCPUShares(want); err != nil {
					return err
				}
			}
			if quotaDown {
				return a.cgroups.setCPULimit(want)
			}
			return nil
		}
	}
	if err := phase(corev1.ResourceMemory, memWiden, memNarrow); err != nil {
		return err
	}
	return phase(corev1.ResourceCPU, cpuWiden, cpuNarrow)
}

// mergeResource is have with name's request and limit taken from want.
func mergeResource(have, want corev1.ResourceRequirements, name corev1.ResourceName) corev1.ResourceRequirements {
	out := *have.DeepCopy()
	set := func(dst *corev1.ResourceList, src corev1.ResourceList) {
		q, ok := src[name]
		if ok {
			if *dst == nil {
				*dst = corev1.ResourceList{}
			}
			(*dst)[name] = q.DeepCopy()
		} else {
			delete(*dst, name)
		}
		if len(*dst) == 0 {
			*dst = nil
		}
	}
	set(&out.Requests, want.Requests)
	set(&out.Limits, want.Limits)
	return out
}
