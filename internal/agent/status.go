package agent

import (
	"fmt"
	"sort"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// statusInput is what computeStatus needs beyond the pod and the runtime.
type statusInput struct {
	// RuntimeName prefixes container IDs ("containerd://...").
	RuntimeName string
	// HostIPs are the node's addresses.
	HostIPs []string
	Now     time.Time
	// ResizeConditions are the pod's PodResizePending and
	// PodResizeInProgress conditions, which the agent keeps (resize.go).
	ResizeConditions []corev1.PodCondition
}

// computeStatus builds the PodStatus upstream's kubelet would write for
// pod (its containers' resources the agent's allocation), given what the runtime and the prober observed. Conditions of types
// the agent does not own (PodScheduled, DisruptionTarget, readiness gates)
// are kept; transition times only move when a condition's status does.
// It is pure.
func computeStatus(pod *corev1.Pod, obs Observed, in statusInput) corev1.PodStatus {
	old := pod.Status
	st := corev1.PodStatus{
		QOSClass:          old.QOSClass,
		StartTime:         old.StartTime,
		NominatedNodeName: old.NominatedNodeName,
		Resize:            old.Resize,
		// The generation this status reflects, as upstream's kubelet
		// reports since 1.34; conditions the agent owns carry it too.
		ObservedGeneration: pod.Generation,
	}
	if st.QOSClass == "" {
		st.QOSClass = qosClass(pod)
	}
	if st.StartTime == nil {
		t := metav1.NewTime(in.Now)
		st.StartTime = &t
	}
	for _, ip := range in.HostIPs {
		st.HostIPs = append(st.HostIPs, corev1.HostIP{IP: ip})
	}
	if len(in.HostIPs) > 0 {
		st.HostIP = in.HostIPs[0]
	}
	sb := latestSandbox(obs.Sandboxes)
	sandboxReady := sb != nil && sb.State == SandboxReady
	if pod.Spec.HostNetwork {
		for _, ip := range in.HostIPs {
			st.PodIPs = append(st.PodIPs, corev1.PodIP{IP: ip})
		}
	} else if sb != nil {
		for _, ip := range sb.IPs {
			st.PodIPs = append(st.PodIPs, corev1.PodIP{IP: ip})
		}
	}
	if len(st.PodIPs) > 0 {
		st.PodIP = st.PodIPs[0].IP
	} else if len(old.PodIPs) > 0 && !sandboxReady {
		// Keep the last known IPs once the sandbox is stopped, as upstream.
		st.PodIPs, st.PodIP = old.PodIPs, old.PodIP
	}

	byName := containersByName(obs.Containers)
	deleting := pod.DeletionTimestamp != nil
	done := finished(pod, byName)
	initDone := anyRegularCreated(pod, byName)
	var pendingInit []string
	for i := range pod.Spec.InitContainers {
		c := &pod.Spec.InitContainers[i]
		cs := containerStatus(pod, c, byName[c.Name], obs, in, true, done || deleting)
		st.InitContainerStatuses = append(st.InitContainerStatuses, cs)
		switch {
		case isSidecar(c):
			if cs.Started == nil || !*cs.Started {
				pendingInit = append(pendingInit, c.Name)
			}
		case cs.State.Terminated == nil || cs.State.Terminated.ExitCode != 0:
			pendingInit = append(pendingInit, c.Name)
		}
	}
	if initDone {
		pendingInit = nil
	}
	for i := range pod.Spec.Containers {
		c := &pod.Spec.Containers[i]
		cs := containerStatus(pod, c, byName[c.Name], obs, in, len(pendingInit) == 0, done || deleting)
		st.ContainerStatuses = append(st.ContainerStatuses, cs)
	}
	for i := range pod.Spec.EphemeralContainers {
		c := (*corev1.Container)(&pod.Spec.EphemeralContainers[i].EphemeralContainerCommon)
		cs := containerStatus(pod, c, byName[c.Name], obs, in, len(pendingInit) == 0, done || deleting)
		st.EphemeralContainerStatuses = append(st.EphemeralContainerStatuses, cs)
	}
	st.Phase = podPhase(pod, st, len(pendingInit) > 0, deleting && len(runningContainers(obs)) == 0)
	if left, ok := deadlineLeft(pod, in.Now); ok && left <= 0 && !podTerminal(pod) {
		st.Phase, st.Reason, st.Message = corev1.PodFailed, ReasonDeadlineExceeded, MessageDeadlineExceeded
	}
	if old.Phase == corev1.PodSucceeded || old.Phase == corev1.PodFailed {
		st.Phase = old.Phase // terminal phases never change
		if st.Reason == "" {
			st.Reason, st.Message = old.Reason, old.Message
		}
	}

	var unready []string
	for _, cs := range st.ContainerStatuses {
		if !cs.Ready {
			unready = append(unready, cs.Name)
		}
	}
	for _, cs := range st.InitContainerStatuses {
		if c := specContainer(pod.Spec.InitContainers, cs.Name); c != nil && isSidecar(c) && !cs.Ready {
			unready = append(unready, cs.Name)
		}
	}
	var conds []corev1.PodCondition
	cond := func(t corev1.PodConditionType, ok bool, reason, msg string) {
		c := corev1.PodCondition{Type: t, ObservedGeneration: pod.Generation, Status: corev1.ConditionFalse, Reason: reason, Message: msg}
		if ok {
			c.Status = corev1.ConditionTrue
		}
		conds = append(conds, c)
	}
	cond(corev1.PodReadyToStartContainers, sandboxReady && (len(st.PodIPs) > 0 || pod.Spec.HostNetwork), "", "")
	switch {
	case st.Phase == corev1.PodSucceeded && len(pod.Spec.InitContainers) > 0:
		cond(corev1.PodInitialized, true, "PodCompleted", "")
	case len(pendingInit) > 0:
		cond(corev1.PodInitialized, false, "ContainersNotInitialized", fmt.Sprintf("containers with incomplete status: [%s]", strings.Join(pendingInit, " ")))
	default:
		cond(corev1.PodInitialized, true, "", "")
	}
	readyReason, readyMsg := "", ""
	switch {
	case st.Phase == corev1.PodSucceeded:
		readyReason = "PodCompleted"
	case len(unready) > 0:
		readyReason, readyMsg = "ContainersNotReady", fmt.Sprintf("containers with unready status: [%s]", strings.Join(unready, " "))
	}
	ready := readyReason == ""
	cond(corev1.ContainersReady, ready, readyReason, readyMsg)
	podReady, podReason, podMsg := ready, readyReason, readyMsg
	if ready {
		var gates []string
		for _, g := range pod.Spec.ReadinessGates {
			if c := findCondition(old.Conditions, g.ConditionType); c == nil || c.Status != corev1.ConditionTrue {
				gates = append(gates, string(g.ConditionType))
			}
		}
		if len(gates) > 0 {
			podReady, podReason = false, "ReadinessGatesNotReady"
			podMsg = fmt.Sprintf("corresponding condition of pod readiness gate %q does not exist.", gates[0])
		}
	}
	cond(corev1.PodReady, podReady, podReason, podMsg)

	// Keep conditions owned by others, then order like upstream.
	for _, c := range old.Conditions {
		if c.Type == corev1.PodResizePending || c.Type == corev1.PodResizeInProgress {
			continue // the agent's, in in.ResizeConditions
		}
		if findCondition(conds, c.Type) == nil {
			conds = append(conds, c)
		}
	}
	for i := range conds {
		c := &conds[i]
		if prev := findCondition(old.Conditions, c.Type); prev != nil && prev.Status == c.Status {
			c.LastTransitionTime = prev.LastTransitionTime
			c.LastProbeTime = prev.LastProbeTime
		} else if c.LastTransitionTime.IsZero() {
			c.LastTransitionTime = metav1.NewTime(in.Now)
		}
	}
	conds = append(conds, in.ResizeConditions...)
	order := map[corev1.PodConditionType]int{corev1.PodReadyToStartContainers: 1, corev1.PodInitialized: 2, corev1.PodReady: 3, corev1.ContainersReady: 4, corev1.PodScheduled: 5}
	sort.SliceStable(conds, func(i, j int) bool {
		oi, oj := order[conds[i].Type], order[conds[j].Type]
		if oi == 0 {
			oi = 100
		}
		if oj == 0 {
			oj = 100
		}
		return oi < oj
	})
	st.Conditions = conds
	return st
}

// containerStatus is the status of one spec container from its instances,
// newest first.
func containerStatus(pod *corev1.Pod, c *corev1.Container, insts []Container, obs Observed, in statusInput, initialized, podDone bool) corev1.ContainerStatus {
	f := false
	cs := corev1.ContainerStatus{Name: c.Name, Image: c.Image, Started: &f}
	if len(insts) == 0 {
		reason := "ContainerCreating"
		if !initialized || specContainer(pod.Spec.InitContainers, c.Name) != nil {
			reason = "PodInitializing"
		}
		cs.State.Waiting = &corev1.ContainerStateWaiting{Reason: reason}
		if w, ok := obs.Waiting[c.Name]; ok {
			cs.State.Waiting = &w
		}
		return cs
	}
	last := insts[0]
	// The resources: allocated (c's, the agent's allocation), and those
	// applied to a running instance, as upstream reports them.
	cs.AllocatedResources = c.Resources.DeepCopy().Requests
	cs.Resources = c.Resources.DeepCopy()
	if act, ok := obs.Actuated[c.Name]; ok && last.State == ContainerRunning {
		cs.Resources = act.DeepCopy()
	}
	cs.RestartCount = int32(last.Attempt)
	cs.ImageID = last.ImageRef
	cs.ContainerID = in.RuntimeName + "://" + last.ID
	if len(insts) > 1 && insts[1].State == ContainerExited {
		cs.LastTerminationState.Terminated = terminated(insts[1], in.RuntimeName)
	}
	switch last.State {
	case ContainerCreated, ContainerUnknown:
		cs.State.Waiting = &corev1.ContainerStateWaiting{Reason: "ContainerCreating"}
	case ContainerRunning:
		cs.State.Running = &corev1.ContainerStateRunning{StartedAt: metav1.NewTime(last.StartedAt)}
		p, ok := obs.Probes[c.Name]
		ok = ok && p.ContainerID == last.ID
		started := c.StartupProbe == nil || ok && p.Started
		cs.Started = &started
		cs.Ready = started && (c.ReadinessProbe == nil || ok && p.Ready)
		if isSidecar(c) && c.ReadinessProbe == nil {
			cs.Ready = started
		}
	case ContainerExited:
		restartIt := isSidecar(c) || (specContainer(pod.Spec.InitContainers, c.Name) == nil && shouldRestartPolicy(pod, insts)) ||
			(specContainer(pod.Spec.InitContainers, c.Name) != nil && last.ExitCode != 0 && pod.Spec.RestartPolicy != corev1.RestartPolicyNever)
		if wait := backoffRemaining(last, in.Now); restartIt && !podDone && wait > 0 {
			cs.State.Waiting = &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff", Message: backoffMessage(pod, c.Name, backoffDelay(last.Attempt))}
			cs.LastTerminationState = corev1.ContainerState{Terminated: terminated(last, in.RuntimeName)}
		} else {
			cs.State.Terminated = terminated(last, in.RuntimeName)
		}
	}
	if w, ok := obs.Waiting[c.Name]; ok && last.State == ContainerExited && !podDone {
		// A restart could not be configured: say why, as upstream.
		if cs.State.Terminated != nil {
			cs.LastTerminationState = corev1.ContainerState{Terminated: cs.State.Terminated}
		}
		cs.State = corev1.ContainerState{Waiting: &w}
	}
	if specContainer(pod.Spec.InitContainers, c.Name) != nil && !isSidecar(c) {
		// An init container is ready once it completed, as upstream.
		cs.Ready = cs.State.Terminated != nil && cs.State.Terminated.ExitCode == 0
	}
	return cs
}

func terminated(c Container, runtimeName string) *corev1.ContainerStateTerminated {
	reason := c.Reason
	if reason == "" {
		reason = "Completed"
		if c.ExitCode != 0 {
			reason = "Error"
		}
	}
	return &corev1.ContainerStateTerminated{
		ExitCode:    c.ExitCode,
		Reason:      reason,
		Message:     c.Message,
		StartedAt:   metav1.NewTime(c.StartedAt),
		FinishedAt:  metav1.NewTime(c.FinishedAt),
		ContainerID: runtimeName + "://" + c.ID,
	}
}

// podPhase follows upstream's getPhase: init containers first, then
// regular containers (sidecars do not count).
func podPhase(pod *corev1.Pod, st corev1.PodStatus, initPending bool, terminal bool) corev1.PodPhase {
	for i, cs := range st.InitContainerStatuses {
		if isSidecar(&pod.Spec.InitContainers[i]) || pod.Spec.RestartPolicy != corev1.RestartPolicyNever {
			continue
		}
		if t := cs.State.Terminated; t != nil && t.ExitCode != 0 {
			return corev1.PodFailed
		}
	}
	if initPending {
		return corev1.PodPending
	}
	var running, waiting, stopped, succeeded int
	for _, cs := range st.ContainerStatuses {
		switch {
		case cs.State.Running != nil:
			running++
		case cs.State.Terminated != nil:
			stopped++
			if cs.State.Terminated.ExitCode == 0 {
				succeeded++
			}
		case cs.LastTerminationState.Terminated != nil:
			stopped++
		default:
			waiting++
		}
	}
	switch {
	case waiting > 0:
		return corev1.PodPending
	case running > 0:
		return corev1.PodRunning
	case stopped > 0:
		if terminal {
			if stopped == succeeded {
				return corev1.PodSucceeded
			}
			return corev1.PodFailed
		}
		switch pod.Spec.RestartPolicy {
		case corev1.RestartPolicyAlways:
			return corev1.PodRunning
		case corev1.RestartPolicyOnFailure:
			if stopped == succeeded {
				return corev1.PodSucceeded
			}
			return corev1.PodRunning
		}
		if stopped == succeeded {
			return corev1.PodSucceeded
		}
		return corev1.PodFailed
	}
	return corev1.PodPending
}

// statusEqual reports whether writing b over a would change nothing.
func statusEqual(a, b *corev1.PodStatus) bool {
	return equality.Semantic.DeepEqual(a, b)
}

func runningContainers(obs Observed) []Container {
	var out []Container
	for _, c := range obs.Containers {
		if c.State != ContainerExited {
			out = append(out, c)
		}
	}
	return out
}

func specContainer(cs []corev1.Container, name string) *corev1.Container {
	for i := range cs {
		if cs[i].Name == name {
			return &cs[i]
		}
	}
	return nil
}

func findCondition(cs []corev1.PodCondition, t corev1.PodConditionType) *corev1.PodCondition {
	for i := range cs {
		if cs[i].Type == t {
			return &cs[i]
		}
	}
	return nil
}

// qosClass is the pod's QoS class, as upstream derives it from requests
// and limits of cpu and memory.
func qosClass(pod *corev1.Pod) corev1.PodQOSClass {
	requests, limits := 0, 0
	guaranteed := true
	all := append(append([]corev1.Container{}, pod.Spec.InitContainers...), pod.Spec.Containers...)
	for _, c := range all {
		for _, r := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
			req, hasReq := c.Resources.Requests[r]
			lim, hasLim := c.Resources.Limits[r]
			if hasReq && !req.IsZero() {
				requests++
			}
			if hasLim && !lim.IsZero() {
				limits++
			}
			if !hasLim || lim.IsZero() || hasReq && req.Cmp(lim) != 0 {
				guaranteed = false
			}
		}
	}
	switch {
	case requests == 0 && limits == 0:
		return corev1.PodQOSBestEffort
	case guaranteed:
		return corev1.PodQOSGuaranteed
	}
	return corev1.PodQOSBurstable
}
