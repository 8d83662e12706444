package framework

import (
	v1 "k8s.io/api/core/v1"
	resourcehelper "k8s.io/component-helpers/resource"
)

// Defaults the scorers assume for a container that requests no CPU or
// memory, so that such pods still spread (upstream's values).
const (
	DefaultMilliCPURequest int64 = 100
	DefaultMemoryRequest   int64 = 200 * 1024 * 1024
)

// Resource is a compact sum of resources.
type Resource struct {
	MilliCPU         int64
	Memory           int64
	EphemeralStorage int64
	// AllowedPodNumber is only meaningful for allocatable.
	AllowedPodNumber int64
	// Scalar holds extended resources, hugepages and the like.
	Scalar map[v1.ResourceName]int64
}

// NewResource converts a ResourceList.
func NewResource(rl v1.ResourceList) *Resource {
	r := &Resource{}
	r.Add(rl)
	return r
}

// Add adds a ResourceList.
func (r *Resource) Add(rl v1.ResourceList) {
	for name, q := range rl {
		switch name {
		case v1.ResourceCPU:
			r.MilliCPU += q.MilliValue()
		case v1.ResourceMemory:
			r.Memory += q.Value()
		case v1.ResourceEphemeralStorage:
			r.EphemeralStorage += q.Value()
		case v1.ResourcePods:
			r.AllowedPodNumber += q.Value()
		default:
			if IsScalarResourceName(name) {
				r.AddScalar(name, q.Value())
			}
		}
	}
}

// AddScalar adds q of an extended resource.
func (r *Resource) AddScalar(name v1.ResourceName, q int64) {
	if r.Scalar == nil {
		r.Scalar = map[v1.ResourceName]int64{}
	}
	r.Scalar[name] += q
}

// AddResource adds o to r.
func (r *Resource) AddResource(o *Resource, sign int64) {
	r.MilliCPU += sign * o.MilliCPU
	r.Memory += sign * o.Memory
	r.EphemeralStorage += sign * o.EphemeralStorage
	for k, v := range o.Scalar {
		r.AddScalar(k, sign*v)
	}
}

// Clone deep-copies r.
func (r *Resource) Clone() *Resource {
	out := *r
	if r.Scalar != nil {
		out.Scalar = make(map[v1.ResourceName]int64, len(r.Scalar))
		for k, v := range r.Scalar {
			out.Scalar[k] = v
		}
	}
	return &out
}

// Get returns the amount of one resource (CPU in milli-units).
func (r *Resource) Get(name v1.ResourceName) int64 {
	switch name {
	case v1.ResourceCPU:
		return r.MilliCPU
	case v1.ResourceMemory:
		return r.Memory
	case v1.ResourceEphemeralStorage:
		return r.EphemeralStorage
	case v1.ResourcePods:
		return r.AllowedPodNumber
	}
	return r.Scalar[name]
}

// IsScalarResourceName reports whether name is an extended resource, a
// hugepage size or an attachable-volume limit: what the fit check counts
// besides CPU, memory, ephemeral storage and pods.
func IsScalarResourceName(name v1.ResourceName) bool {
	s := string(name)
	if len(s) > len(v1.ResourceHugePagesPrefix) && s[:len(v1.ResourceHugePagesPrefix)] == v1.ResourceHugePagesPrefix {
		return true
	}
	if len(s) > len(v1.ResourceAttachableVolumesPrefix) && s[:len(v1.ResourceAttachableVolumesPrefix)] == v1.ResourceAttachableVolumesPrefix {
		return true
	}
	// Extended resources are fully qualified names outside kubernetes.io.
	for i := 0; i < len(s); i++ {
		if s[i] == '/' {
			prefix := s[:i]
			return prefix != "kubernetes.io" && !hasSuffix(prefix, ".kubernetes.io")
		}
	}
	return false
}

func hasSuffix(s, suffix string) bool {
	return len(s) >= len(suffix) && s[len(s)-len(suffix):] == suffix
}

// PodRequests returns what a pod asks for, counting init containers,
// restartable (sidecar) init containers and the pod overhead the way the
// kubelet admits it; and the same with the scoring defaults substituted for
// missing CPU and memory requests.
func PodRequests(pod *v1.Pod) (req, nonZero Resource) {
	rl := resourcehelper.PodRequests(pod, resourcehelper.PodResourcesOptions{})
	req.Add(rl)
	nz := resourcehelper.PodRequests(pod, resourcehelper.PodResourcesOptions{
		NonMissingContainerRequests: v1.ResourceList{
			v1.ResourceCPU:    *resourceQuantityMilli(DefaultMilliCPURequest),
			v1.ResourceMemory: *resourceQuantity(DefaultMemoryRequest),
		},
	})
	nonZero.MilliCPU = nz.Cpu().MilliValue()
	nonZero.Memory = nz.Memory().Value()
	return req, nonZero
}
