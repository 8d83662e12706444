package core

import (
	"fmt"
	"strconv"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"skiff/internal/apiserver/registry"
)

// nodeUnreachablePodReason is the status reason the node lifecycle
// controller sets on pods of an unreachable node.
const nodeUnreachablePodReason = "NodeLost"

// podRow renders a pod's cells the way kubectl users know them: READY is
// ready/total containers (sidecars count), STATUS the most telling reason
// (Init:1/2, CrashLoopBackOff, Completed, Terminating, ...), RESTARTS the
// count with the time since the last one.
func podRow(pod *corev1.Pod) []interface{} {
	s := PodStatusSummary(pod)
	restarts := strconv.Itoa(s.Restarts)
	if s.Restarts != 0 && !s.LastRestart.IsZero() {
		restarts = fmt.Sprintf("%d (%s ago)", s.Restarts, registry.Since(s.LastRestart))
	}
	podIP := "<none>"
	if len(pod.Status.PodIPs) > 0 && pod.Status.PodIPs[0].IP != "" {
		podIP = pod.Status.PodIPs[0].IP
	}
	node := orNone(pod.Spec.NodeName)
	nominated := orNone(pod.Status.NominatedNodeName)
	gates := "<none>"
	if len(pod.Spec.ReadinessGates) > 0 {
		ready := 0
		for _, g := range pod.Spec.ReadinessGates {
			for _, c := range pod.Status.Conditions {
				if c.Type == g.ConditionType {
					if c.Status == corev1.ConditionTrue {
						ready++
					}
					break
				}
			}
		}
		gates = fmt.Sprintf("%d/%d", ready, len(pod.Spec.ReadinessGates))
	}
	return []interface{}{
		fmt.Sprintf("%d/%d", s.Ready, s.Total), s.Reason, restarts, registry.Age(pod),
		podIP, node, nominated, gates,
	}
}

func orNone(s string) string {
	if s == "" {
		return "<none>"
	}
	return s
}

// PodSummary is what the pod table shows about a pod's containers.
type PodSummary struct {
	Ready, Total int
	// Reason is the STATUS cell.
	Reason string
	// Restarts and LastRestart make the RESTARTS cell.
	Restarts    int
	LastRestart metav1.Time
}

// PodStatusSummary computes the READY, STATUS and RESTARTS facts of a pod.
func PodStatusSummary(pod *corev1.Pod) PodSummary {
	var s PodSummary
	s.Total = len(pod.Spec.Containers)
	reason := string(pod.Status.Phase)
	if pod.Status.Reason != "" {
		reason = pod.Status.Reason
	}
	for _, c := range pod.Status.Conditions {
		if c.Type == corev1.PodScheduled && c.Reason == corev1.PodReasonSchedulingGated {
			reason = corev1.PodReasonSchedulingGated
		}
	}
	inits := map[string]*corev1.Container{}
	for i := range pod.Spec.InitContainers {
		inits[pod.Spec.InitContainers[i].Name] = &pod.Spec.InitContainers[i]
		if isSidecar(&pod.Spec.InitContainers[i]) {
			s.Total++
		}
	}

	restarts, sidecarRestarts := 0, 0
	var last, sidecarLast metav1.Time
	later := func(t *metav1.Time, st corev1.ContainerState) {
		if st.Terminated != nil && t.Before(&st.Terminated.FinishedAt) {
			*t = st.Terminated.FinishedAt
		}
	}
	initializing := false
	for i, cs := range pod.Status.InitContainerStatuses {
		restarts += int(cs.RestartCount)
		later(&last, cs.LastTerminationState)
		sidecar := isSidecar(inits[cs.Name])
		if sidecar {
			sidecarRestarts += int(cs.RestartCount)
			later(&sidecarLast, cs.LastTerminationState)
		}
		switch {
		case cs.State.Terminated != nil && cs.State.Terminated.ExitCode == 0:
			continue
		case sidecar && cs.Started != nil && *cs.Started:
			if cs.Ready {
				s.Ready++
			}
			continue
		case cs.State.Terminated != nil:
			t := cs.State.Terminated
			switch {
			case t.Reason != "":
				reason = "Init:" + t.Reason
			case t.Signal != 0:
				reason = fmt.Sprintf("Init:Signal:%d", t.Signal)
			default:
				reason = fmt.Sprintf("Init:ExitCode:%d", t.ExitCode)
			}
		case cs.State.Waiting != nil && cs.State.Waiting.Reason != "" && cs.State.Waiting.Reason != "PodInitializing":
			reason = "Init:" + cs.State.Waiting.Reason
		default:
			reason = fmt.Sprintf("Init:%d/%d", i, len(pod.Spec.InitContainers))
		}
		initializing = true
		break
	}

	if !initializing || podConditionTrue(pod, corev1.PodInitialized) {
		restarts, last = sidecarRestarts, sidecarLast
		running := false
		for i := len(pod.Status.ContainerStatuses) - 1; i >= 0; i-- {
			cs := pod.Status.ContainerStatuses[i]
			restarts += int(cs.RestartCount)
			later(&last, cs.LastTerminationState)
			switch {
			case cs.State.Waiting != nil && cs.State.Waiting.Reason != "":
				reason = cs.State.Waiting.Reason
			case cs.State.Terminated != nil && cs.State.Terminated.Reason != "":
				reason = cs.State.Terminated.Reason
			case cs.State.Terminated != nil && cs.State.Terminated.Signal != 0:
				reason = fmt.Sprintf("Signal:%d", cs.State.Terminated.Signal)
			case cs.State.Terminated != nil:
				reason = fmt.Sprintf("ExitCode:%d", cs.State.Terminated.ExitCode)
			case cs.Ready && cs.State.Running != nil:
				running = true
				s.Ready++
			}
		}
		// A pod whose last container completed but others still run is not done.
		if reason == "Completed" && running {
			if podConditionTrue(pod, corev1.PodReady) {
				reason = "Running"
			} else {
				reason = "NotReady"
			}
		}
	}

	terminal := pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed
	switch {
	case pod.DeletionTimestamp != nil && pod.Status.Reason == nodeUnreachablePodReason:
		reason = "Unknown"
	case pod.DeletionTimestamp != nil && !terminal:
		reason = "Terminating"
	}
	s.Reason, s.Restarts, s.LastRestart = reason, restarts, last
	return s
}

func podConditionTrue(pod *corev1.Pod, t corev1.PodConditionType) bool {
	for _, c := range pod.Status.Conditions {
		if c.Type == t {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}
