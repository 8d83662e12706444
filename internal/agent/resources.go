package agent

import (
	"path"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
)

// CPU and OOM constants of upstream's kubelet.
const (
	minCPUShares  = 2
	maxCPUShares  = 262144
	cpuPeriodUs   = 100000 // the CFS period, 100 ms
	minCPUQuotaUs = 1000
	// guaranteedOOMScoreAdj is upstream's for Guaranteed pods; here the
	// agent never asks for less than 0 (see clampOOMScoreAdj).
	guaranteedOOMScoreAdj = -997
	besteffortOOMScoreAdj = 1000
)

// milliCPUToShares converts a cpu request to cgroup v1 cpu.shares.
func milliCPUToShares(milli int64) int64 {
	if milli == 0 {
		return minCPUShares
	}
	return min(max(milli*1024/1000, minCPUShares), maxCPUShares)
}

// milliCPUToQuota converts a cpu limit to a CFS quota for period; 0 means
// no limit.
func milliCPUToQuota(milli, period int64) int64 {
	if milli == 0 {
		return 0
	}
	return max(milli*period/1000, minCPUQuotaUs)
}

// containerResources is what upstream's kubelet puts in the CRI's
// LinuxContainerResources: shares from the cpu request (the limit when
// only that is set), quota from the cpu limit, the memory limit, and the
// OOM score of the pod's QoS class. memCapacity is the node's memory in
// bytes.
func containerResources(pod *corev1.Pod, c *corev1.Container, memCapacity int64) ContainerResources {
	req, lim := c.Resources.Requests.Cpu(), c.Resources.Limits.Cpu()
	shares := milliCPUToShares(req.MilliValue())
	if req.IsZero() && !lim.IsZero() {
		shares = milliCPUToShares(lim.MilliValue())
	}
	return ContainerResources{
		CPUShares:   shares,
		CPUPeriod:   cpuPeriodUs,
		CPUQuota:    milliCPUToQuota(lim.MilliValue(), cpuPeriodUs),
		MemoryLimit: c.Resources.Limits.Memory().Value(),
		OOMScoreAdj: clampOOMScoreAdj(oomScoreAdj(pod, c, memCapacity)),
	}
}

// oomScoreAdj is upstream's OOM score adjustment of a container: lowest
// for Guaranteed pods, highest for BestEffort, and for Burstable ones
// lower the more memory the container requests of the node's.
func oomScoreAdj(pod *corev1.Pod, c *corev1.Container, memCapacity int64) int64 {
	switch podQOS(pod) {
	case corev1.PodQOSGuaranteed:
		return guaranteedOOMScoreAdj
	case corev1.PodQOSBestEffort:
		return besteffortOOMScoreAdj
	}
	if memCapacity <= 0 {
		return besteffortOOMScoreAdj - 1
	}
	adj := besteffortOOMScoreAdj - 1000*c.Resources.Requests.Memory().Value()/memCapacity
	// Burstable containers stay above Guaranteed ones and below
	// BestEffort ones.
	if adj < besteffortOOMScoreAdj+guaranteedOOMScoreAdj {
		return besteffortOOMScoreAdj + guaranteedOOMScoreAdj
	}
	if adj == besteffortOOMScoreAdj {
		return adj - 1
	}
	return adj
}

// clampOOMScoreAdj keeps a score at 0 or more: root lacks
// CAP_SYS_RESOURCE on these nodes, and a negative oom_score_adj makes
// runc fail to start the container.
func clampOOMScoreAdj(adj int64) int64 { return max(adj, 0) }

// podQOS is the QoS class in the pod's status, or derived from its spec.
func podQOS(pod *corev1.Pod) corev1.PodQOSClass {
	if pod.Status.QOSClass != "" {
		return pod.Status.QOSClass
	}
	return qosClass(pod)
}

// PodCgroup is the pod-level cgroup the agent creates before the sandbox:
// its path below the cgroup root and its limits.
type PodCgroup struct {
	// Path is the cgroup's path from the hierarchy root, e.g.
	// /kubepods/burstable/pod<uid>.
	Path string
	// CPUShares is the sum of the containers' cpu requests (2 at least).
	CPUShares int64
	// CPUQuota and CPUPeriod limit the pod's cpu when every container
	// has a cpu limit; 0 means none.
	CPUQuota, CPUPeriod int64
	// MemoryLimit limits the pod's memory when every container has a
	// memory limit; 0 means none.
	MemoryLimit int64
}

// Cgroup folders of the QoS classes below the agent's cgroup root, as
// upstream: Guaranteed pods sit directly under it.
const (
	cgroupBurstable  = "burstable"
	cgroupBestEffort = "besteffort"
)

// podCgroupPath is where a pod of class qos has its cgroup below root.
func podCgroupPath(root string, qos corev1.PodQOSClass, uid types.UID) string {
	switch qos {
	case corev1.PodQOSBurstable:
		return path.Join(root, cgroupBurstable, "pod"+string(uid))
	case corev1.PodQOSBestEffort:
		return path.Join(root, cgroupBestEffort, "pod"+string(uid))
	}
	return path.Join(root, "pod"+string(uid))
}

// podCgroupPaths are every place a pod's cgroup may be, to remove it
// once the pod is gone and its spec with it.
func podCgroupPaths(root string, uid types.UID) []string {
	return []string{
		podCgroupPath(root, corev1.PodQOSGuaranteed, uid),
		podCgroupPath(root, corev1.PodQOSBurstable, uid),
		podCgroupPath(root, corev1.PodQOSBestEffort, uid),
	}
}

// podCgroup computes the pod's cgroup as upstream's kubelet does: shares
// from the pod's cpu request for every class (the minimum for
// BestEffort), and a cpu quota and memory limit only when every container
// declares that limit (always so for Guaranteed).
func podCgroup(root string, pod *corev1.Pod) PodCgroup {
	qos := podQOS(pod)
	pc := PodCgroup{Path: podCgroupPath(root, qos, pod.UID)}
	if qos == corev1.PodQOSBestEffort {
		pc.CPUShares = minCPUShares
		return pc
	}
	cpuReq, cpuLim, memLim, cpuAll, memAll := podTotals(pod)
	pc.CPUShares = milliCPUToShares(cpuReq)
	if cpuAll {
		pc.CPUQuota, pc.CPUPeriod = milliCPUToQuota(cpuLim, cpuPeriodUs), cpuPeriodUs
	}
	if memAll {
		pc.MemoryLimit = memLim
	}
	return pc
}

// podTotals sums the cpu request (milli), cpu limit (milli) and memory
// limit (bytes) of the pod's containers, taking the larger of that and
// any one init container (which runs alone, next to the sidecars started
// before it); cpuAll and memAll say whether every container has a limit.
func podTotals(pod *corev1.Pod) (cpuReq, cpuLim, memLim int64, cpuAll, memAll bool) {
	cpuAll, memAll = true, true
	note := func(c *corev1.Container) {
		if c.Resources.Limits.Cpu().IsZero() {
			cpuAll = false
		}
		if c.Resources.Limits.Memory().IsZero() {
			memAll = false
		}
	}
	var sideReq, sideCPU, sideMem int64
	var initReq, initCPU, initMem int64
	for i := range pod.Spec.InitContainers {
		c := &pod.Spec.InitContainers[i]
		note(c)
		r, l, m := c.Resources.Requests.Cpu().MilliValue(), c.Resources.Limits.Cpu().MilliValue(), c.Resources.Limits.Memory().Value()
		if isSidecar(c) {
			sideReq, sideCPU, sideMem = sideReq+r, sideCPU+l, sideMem+m
			continue
		}
		initReq, initCPU, initMem = max(initReq, sideReq+r), max(initCPU, sideCPU+l), max(initMem, sideMem+m)
	}
	cpuReq, cpuLim, memLim = sideReq, sideCPU, sideMem
	for i := range pod.Spec.Containers {
		c := &pod.Spec.Containers[i]
		note(c)
		cpuReq += c.Resources.Requests.Cpu().MilliValue()
		cpuLim += c.Resources.Limits.Cpu().MilliValue()
		memLim += c.Resources.Limits.Memory().Value()
	}
	return max(cpuReq, initReq), max(cpuLim, initCPU), max(memLim, initMem), cpuAll, memAll
}
