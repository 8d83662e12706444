package agent

import (
	"context"
	"fmt"
	"net"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Admission: before it runs a pod the API bound to it, the node checks,
// as upstream's kubelet does, that the pod fits beside the pods it already
// admitted: its host ports are free and its requests fit the node's
// allocatable CPU, memory and pod count (pods being deleted no longer
// count there). The scheduler checks the same,
// but a pod can name its node itself, or race another one. A rejected pod
// is never started: it ends Failed with the reason (NodePorts, OutOfcpu,
// OutOfmemory, OutOfpods), and its controller replaces it.

// rejection is why a pod may not run on this node.
type rejection struct {
	Reason, Message string
}

// admitPod decides whether pod fits beside the admitted pods on a node
// with the given allocatable resources. It is pure.
func admitPod(pod *corev1.Pod, admitted []*corev1.Pod, allocatable corev1.ResourceList) *rejection {
	used := map[hostPort]bool{}
	for _, p := range admitted {
		for _, hp := range hostPorts(p) {
			used[hp] = true
		}
	}
	for _, hp := range hostPorts(pod) {
		if portTaken(used, hp) {
			return &rejection{Reason: "NodePorts", Message: "Pod was rejected: Predicate NodePorts failed: node(s) didn't have free ports for the requested pod ports"}
		}
	}
	// Pods on their way out give their resources up: the scheduler binds
	// a preemptor once its victims are deleted, and a node that held on to
	// them would refuse it.
	var staying []*corev1.Pod
	for _, p := range admitted {
		if p.DeletionTimestamp == nil {
			staying = append(staying, p)
		}
	}
	admitted = staying
	if c, ok := allocatable[corev1.ResourcePods]; ok && int64(len(admitted))+1 > c.Value() {
		rej := outOf(corev1.ResourcePods, 1, int64(len(admitted)), c.Value())
		rej.Message = "Pod was rejected: " + rej.Message
		return rej
	}
	if rej := fitRequests(pod, admitted, allocatable); rej != nil {
		rej.Message = "Pod was rejected: " + rej.Message
		return rej
	}
	return nil
}

// fitRequests checks that pod's cpu and memory requests fit beside
// others' within allocatable, as upstream's noderesources fit does; the
// rejection's reason is OutOfcpu or OutOfmemory. It is pure.
func fitRequests(pod *corev1.Pod, others []*corev1.Pod, allocatable corev1.ResourceList) *rejection {
	want := podRequests(pod)
	for _, name := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
		capacity, ok := allocatable[name]
		req := want[name]
		if !ok || req.IsZero() {
			continue
		}
		var inUse resource.Quantity
		for _, p := range others {
			q := podRequests(p)[name]
			inUse.Add(q)
		}
		total := inUse.DeepCopy()
		total.Add(req)
		if total.Cmp(capacity) > 0 {
			if name == corev1.ResourceCPU {
				return outOf(name, req.MilliValue(), inUse.MilliValue(), capacity.MilliValue())
			}
			return outOf(name, req.Value(), inUse.Value(), capacity.Value())
		}
	}
	return nil
}

// outOf is upstream's insufficient-resource rejection.
func outOf(name corev1.ResourceName, requested, used, capacity int64) *rejection {
	return &rejection{
		Reason:  "OutOf" + string(name),
		Message: fmt.Sprintf("Node didn't have enough resource: %s, requested: %d, used: %d, capacity: %d", name, requested, used, capacity),
	}
}

// hostPort is one host port a pod binds.
type hostPort struct {
	ip       string
	protocol corev1.Protocol
	port     int32
}

func hostPorts(pod *corev1.Pod) []hostPort {
	var out []hostPort
	for _, cs := range [][]corev1.Container{pod.Spec.InitContainers, pod.Spec.Containers} {
		for _, c := range cs {
			for _, p := range c.Ports {
				if p.HostPort == 0 {
					continue
				}
				hp := hostPort{ip: p.HostIP, protocol: p.Protocol, port: p.HostPort}
				if hp.ip == "" {
					hp.ip = net.IPv4zero.String()
				}
				if hp.protocol == "" {
					hp.protocol = corev1.ProtocolTCP
				}
				out = append(out, hp)
			}
		}
	}
	return out
}

// portTaken reports whether hp clashes with a used port: the same port
// and protocol on the same address, or on every address (0.0.0.0).
func portTaken(used map[hostPort]bool, hp hostPort) bool {
	all := net.IPv4zero.String()
	if hp.ip == all {
		for u := range used {
			if u.protocol == hp.protocol && u.port == hp.port {
				return true
			}
		}
		return false
	}
	return used[hp] || used[hostPort{ip: all, protocol: hp.protocol, port: hp.port}]
}

// podRequests is what a pod asks of its node, as the scheduler counts it:
// the larger of its containers' (with sidecars) and its largest init
// container's requests, plus its overhead.
func podRequests(pod *corev1.Pod) corev1.ResourceList {
	out := corev1.ResourceList{}
	add := func(l corev1.ResourceList) {
		for n, q := range l {
			cur := out[n]
			cur.Add(q)
			out[n] = cur
		}
	}
	for _, c := range pod.Spec.Containers {
		add(c.Resources.Requests)
	}
	sidecars := corev1.ResourceList{}
	for _, c := range pod.Spec.InitContainers {
		if isSidecar(&c) {
			add(c.Resources.Requests)
			for n, q := range c.Resources.Requests {
				cur := sidecars[n]
				cur.Add(q)
				sidecars[n] = cur
			}
			continue
		}
		for n, q := range c.Resources.Requests {
			// An init container runs beside the sidecars started before it.
			need := q.DeepCopy()
			need.Add(sidecars[n])
			if cur := out[n]; need.Cmp(cur) > 0 {
				out[n] = need
			}
		}
	}
	add(pod.Spec.Overhead)
	return out
}

// admit checks a pod the agent has not run yet against the pods it
// admitted before, and rejects it (status Failed, an event) when it does
// not fit. It reports whether the pod may run.
func (a *Agent) admit(ctx context.Context, e *podEntry, pod *corev1.Pod) bool {
	static := a.isStatic(pod.UID)
	a.mu.Lock()
	if e.admitted || static || pod.Status.StartTime != nil {
		// Static pods are the node's own; a pod with a start time ran
		// here before (an agent restart).
		first := !e.admitted
		e.admitted = true
		a.mu.Unlock()
		if first {
			a.ensureAllocation(pod)
		}
		return true
	}
	// Pods count with what the node allocated them, which a pending
	// resize does not change (a.alloc has its own lock).
	var others []*corev1.Pod
	for uid, o := range a.pods {
		if uid != pod.UID && o.admitted && o.pod != nil && !podTerminal(o.pod) {
			others = append(others, a.allocatedPod(o.pod))
		}
	}
	rej := admitPod(a.allocatedPod(pod), others, a.cfg.Capacity)
	if rej == nil {
		e.admitted = true
	}
	a.mu.Unlock()
	if rej == nil {
		a.ensureAllocation(pod)
		return true
	}
	a.podEvent(pod, corev1.EventTypeWarning, rej.Reason, rej.Message)
	up := pod.DeepCopy()
	up.Status.Phase = corev1.PodFailed
	up.Status.Reason, up.Status.Message = rej.Reason, rej.Message
	up.Status.QOSClass = qosClass(pod)
	if _, err := a.cfg.Client.CoreV1().Pods(pod.Namespace).UpdateStatus(ctx, up, metav1.UpdateOptions{}); err != nil {
		a.log.Warn("reject pod", "pod", pod.Namespace+"/"+pod.Name, "err", err)
		a.pool.addAfter(item{a: a, kind: itemPod, key: string(pod.UID)}, retryAfter)
	}
	return false
}

func podTerminal(p *corev1.Pod) bool {
	return p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed
}
