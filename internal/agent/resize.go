package agent

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// In-place resize, as upstream's kubelet does it since v1.35 (GA):
//
//	spec (desired) --admit--> allocated --actuate--> actuated
//
// The API server changes a pod's container resources through pods/resize
// (and bumps its generation). The agent admits the new resources against
// the node's allocatable beside the other pods' allocations
// (decideResize): accepted, they become the pod's allocation, which the
// agent keeps in a checkpoint across restarts and which every other part
// of the agent (container configs, admission of other pods, status) reads
// instead of the spec; not accepted, the pod gets a PodResizePending
// condition (Deferred: retried on every sync; Infeasible: never). Then
// the pod worker actuates the allocation on running containers
// (resizeActions): a container whose resizePolicy says RestartContainer
// for a changed resource is restarted, the others get CRI
// UpdateContainerResources, with the pod cgroup widened before and
// narrowed after them. What was applied is the container's actuated
// resources (also checkpointed); while some running container's differ
// from its allocation, the pod has a PodResizeInProgress condition.

// Reasons of the resize conditions, and the event reasons, as upstream.
const (
	EventResizeStarted    = "ResizeStarted"
	EventResizeCompleted  = "ResizeCompleted"
	EventResizeDeferred   = "ResizeDeferred"
	EventResizeInfeasible = "ResizeInfeasible"
	EventResizeError      = "ResizeError"
)

// allocationOf is the resources of a pod's init and regular containers
// (all of them resizable since v1.37), by container name.
func allocationOf(pod *corev1.Pod) map[string]corev1.ResourceRequirements {
	out := make(map[string]corev1.ResourceRequirements, len(pod.Spec.InitContainers)+len(pod.Spec.Containers))
	for _, cs := range [][]corev1.Container{pod.Spec.InitContainers, pod.Spec.Containers} {
		for i := range cs {
			out[cs[i].Name] = *cs[i].Resources.DeepCopy()
		}
	}
	return out
}

// withAllocation returns pod with its containers' resources replaced by
// alloc's where they differ (a copy then; pod itself when nothing
// differs), and whether anything did.
func withAllocation(pod *corev1.Pod, alloc map[string]corev1.ResourceRequirements) (*corev1.Pod, bool) {
	if pod == nil || alloc == nil {
		return pod, false
	}
	out, changed := pod, false
	for _, list := range []func(*corev1.Pod) []corev1.Container{
		func(p *corev1.Pod) []corev1.Container { return p.Spec.InitContainers },
		func(p *corev1.Pod) []corev1.Container { return p.Spec.Containers },
	} {
		for i, c := range list(pod) {
			r, ok := alloc[c.Name]
			if !ok || equality.Semantic.DeepEqual(c.Resources, r) {
				continue
			}
			if !changed {
				out, changed = pod.DeepCopy(), true
			}
			list(out)[i].Resources = *r.DeepCopy()
		}
	}
	return out, changed
}

// resizeVerdict is what the node says to a resize: accepted, or pending
// with upstream's reason (Deferred, Infeasible) and message.
type resizeVerdict struct {
	Accept          bool
	Reason, Message string
}

// decideResize admits desired, a pod whose spec asks for other resources
// than allocated, its current allocation, beside the other pods' current
// allocations on a node with allocatable. As upstream (v1.37), a resize
// that does not fit is deferred, with the insufficient resource's
// message, and tried again later: other pods may shrink or go. It is
// pure.
func decideResize(desired *corev1.Pod, others []*corev1.Pod, allocatable corev1.ResourceList) resizeVerdict {
	staying := slices.DeleteFunc(slices.Clone(others), func(p *corev1.Pod) bool { return p.UID == desired.UID })
	if rej := fitRequests(desired, staying, allocatable); rej != nil {
		return resizeVerdict{Reason: corev1.PodReasonDeferred, Message: rej.Message}
	}
	return resizeVerdict{Accept: true}
}

// cgroupValues are the four numbers of a container's resources that
// reach cgroups or the CRI: limits and requests of cpu (milli) and
// memory (bytes).
type cgroupValues struct {
	cpuReq, cpuLim, memReq, memLim int64
}

func valuesOf(r corev1.ResourceRequirements) cgroupValues {
	return cgroupValues{
		cpuReq: r.Requests.Cpu().MilliValue(), cpuLim: r.Limits.Cpu().MilliValue(),
		memReq: r.Requests.Memory().Value(), memLim: r.Limits.Memory().Value(),
	}
}

// resizeNeeded decides how a running container with actuated resources
// reaches its allocated ones: not at all (equal), by a restart (a
// changed resource whose resizePolicy is RestartContainer), or by an
// update in place.
func resizeNeeded(c *corev1.Container, actuated corev1.ResourceRequirements) (update, restart bool) {
	want, have := valuesOf(c.Resources), valuesOf(actuated)
	if want == have {
		return false, false
	}
	policy := func(name corev1.ResourceName) corev1.ResourceResizeRestartPolicy {
		for _, p := range c.ResizePolicy {
			if p.ResourceName == name {
				return p.RestartPolicy
			}
		}
		return corev1.NotRequired
	}
	if (want.cpuReq != have.cpuReq || want.cpuLim != have.cpuLim) && policy(corev1.ResourceCPU) == corev1.RestartContainer ||
		(want.memReq != have.memReq || want.memLim != have.memLim) && policy(corev1.ResourceMemory) == corev1.RestartContainer {
		return false, true
	}
	return true, false
}

// resizeInProgress reports whether some running container of pod (its
// allocation) has actuated resources other than its allocated ones.
func resizeInProgress(pod *corev1.Pod, obs Observed) bool {
	byName := containersByName(obs.Containers)
	for _, cs := range [][]corev1.Container{pod.Spec.InitContainers, pod.Spec.Containers} {
		for i := range cs {
			insts := byName[cs[i].Name]
			if len(insts) == 0 || insts[0].State != ContainerRunning {
				continue
			}
			act, ok := obs.Actuated[cs[i].Name]
			if ok && valuesOf(act) != valuesOf(cs[i].Resources) {
				return true
			}
		}
	}
	return false
}

// resizeConditions are the agent's PodResizePending and
// PodResizeInProgress conditions of one pod (nil: absent).
type resizeConditions struct {
	pending, inProgress *corev1.PodCondition
}

// list is the conditions for the status, pending first.
func (rc resizeConditions) list() []corev1.PodCondition {
	var out []corev1.PodCondition
	for _, c := range []*corev1.PodCondition{rc.pending, rc.inProgress} {
		if c != nil {
			out = append(out, *c)
		}
	}
	return out
}

// resizeCondition is a true condition of type t; the transition time
// stays old's while the reason does, as upstream.
func resizeCondition(t corev1.PodConditionType, old *corev1.PodCondition, reason, msg string, gen int64, now time.Time) *corev1.PodCondition {
	c := &corev1.PodCondition{Type: t, Status: corev1.ConditionTrue, Reason: reason, Message: msg, ObservedGeneration: gen,
		LastProbeTime: metav1.NewTime(now), LastTransitionTime: metav1.NewTime(now)}
	if old != nil && old.Reason == reason {
		c.LastTransitionTime = old.LastTransitionTime
	}
	if old != nil && old.Reason == reason && old.Message == msg && old.ObservedGeneration == gen {
		// Unchanged: keep the probe time too, so that the status does
		// not change on every sync.
		c.LastProbeTime = old.LastProbeTime
	}
	return c
}

// setPending sets PodResizePending with reason (any but Infeasible reads
// Deferred, as upstream) and reports whether its reason or generation
// changed (time for an event).
func (rc *resizeConditions) setPending(reason, msg string, gen int64, now time.Time) bool {
	if reason != corev1.PodReasonInfeasible {
		reason = corev1.PodReasonDeferred
	}
	old := rc.pending
	rc.pending = resizeCondition(corev1.PodResizePending, old, reason, msg, gen, now)
	return old == nil || old.Reason != reason || old.ObservedGeneration != gen
}

// setInProgress sets PodResizeInProgress; an existing one keeps its
// generation (clear it first to move it on) and, when reason and msg are
// empty, its reason and message. It reports whether it changed.
func (rc *resizeConditions) setInProgress(reason, msg string, gen int64, now time.Time) bool {
	old := rc.inProgress
	if old != nil {
		if reason == "" && msg == "" {
			reason, msg = old.Reason, old.Message
		}
		gen = old.ObservedGeneration
	}
	rc.inProgress = resizeCondition(corev1.PodResizeInProgress, old, reason, msg, gen, now)
	return old == nil || old.Reason != reason || old.Message != msg
}

// clearInProgress removes PodResizeInProgress and returns the generation
// it was about, and whether there was one.
func (rc *resizeConditions) clearInProgress() (int64, bool) {
	if rc.inProgress == nil {
		return 0, false
	}
	gen := rc.inProgress.ObservedGeneration
	rc.inProgress = nil
	return gen, true
}

// resizeBackfill takes the resize conditions from a pod's status, as an
// agent that restarted finds them.
func resizeBackfill(st corev1.PodStatus) resizeConditions {
	var rc resizeConditions
	if c := findCondition(st.Conditions, corev1.PodResizePending); c != nil {
		rc.pending = c.DeepCopy()
	}
	if c := findCondition(st.Conditions, corev1.PodResizeInProgress); c != nil {
		rc.inProgress = c.DeepCopy()
	}
	return rc
}

// resizeMessage is upstream's resize event message: what the pod's
// containers are allocated, at which generation, and the error if any.
func resizeMessage(prefix string, pod *corev1.Pod, gen int64, errMsg string) string {
	type alloc struct {
		Name      string                      `json:"name"`
		Resources corev1.ResourceRequirements `json:"resources,omitempty"`
	}
	summary := struct {
		InitContainers []alloc `json:"initContainers,omitempty"`
		Containers     []alloc `json:"containers,omitempty"`
		Generation     int64   `json:"generation"`
		Error          string  `json:"error,omitempty"`
	}{Generation: gen, Error: errMsg}
	for _, c := range pod.Spec.InitContainers {
		summary.InitContainers = append(summary.InitContainers, alloc{c.Name, c.Resources})
	}
	for _, c := range pod.Spec.Containers {
		summary.Containers = append(summary.Containers, alloc{c.Name, c.Resources})
	}
	b, err := json.Marshal(summary)
	if err != nil {
		return prefix
	}
	return fmt.Sprintf("%s: %s", prefix, b)
}

// memoryChange is one memory limit a resize sets: the new and the
// current limit (0: none) and the usage (nil: unknown).
type memoryChange struct {
	name       string
	want, have int64
	usage      *int64
}

// checkMemoryDecrease refuses, as upstream, to set a memory limit that
// is added or lowered below the current usage of the pod (pod) or of a
// container (containers); an unknown usage is not checked. It is pure.
func checkMemoryDecrease(pod memoryChange, containers []memoryChange) error {
	var errs []string
	lowered := func(m memoryChange) bool { return m.want != 0 && (m.have == 0 || m.want < m.have) }
	if lowered(pod) && pod.usage != nil && *pod.usage >= pod.want {
		errs = append(errs, fmt.Sprintf("attempting to set pod memory limit (%d) below current usage (%d)", pod.want, *pod.usage))
	}
	for _, c := range containers {
		if lowered(c) && c.usage != nil && *c.usage >= c.want {
			errs = append(errs, fmt.Sprintf("attempting to set container %q memory limit (%d) below current usage (%d)", c.name, c.want, *c.usage))
		}
	}
	switch len(errs) {
	case 0:
		return nil
	case 1:
		return errors.New("cannot decrease memory limits: " + errs[0])
	}
	return errors.New("cannot decrease memory limits: [" + strings.Join(errs, ", ") + "]")
}
