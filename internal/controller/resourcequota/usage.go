package resourcequota

import (
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"

	"skiff/internal/quota"
)

// objects is what a namespace holds, as the usage computation sees it.
type objects struct {
	pods     []*corev1.Pod
	services []*corev1.Service
	pvcs     []*corev1.PersistentVolumeClaim
	// count returns the number of objects of a "<resource>[.<group>]",
	// and whether it could be counted.
	count func(resourceGroup string) (int64, bool)
}

// computeUsage returns status.used for the resources in hard.
func computeUsage(spec corev1.ResourceQuotaSpec, o objects) corev1.ResourceList {
	hard := spec.Hard
	used := corev1.ResourceList{}
	var pods []*corev1.Pod
	for _, p := range o.pods {
		if p.Status.Phase != corev1.PodSucceeded && p.Status.Phase != corev1.PodFailed && quota.PodMatches(p, spec) {
			pods = append(pods, p)
		}
	}
	podSum := func(limits bool, name corev1.ResourceName) resource.Quantity {
		var q resource.Quantity
		for _, p := range pods {
			if v, ok := quota.PodResources(p, limits)[name]; ok {
				q.Add(v)
			}
		}
		return q
	}
	for name := range hard {
		n := string(name)
		switch {
		case name == corev1.ResourcePods || n == "count/pods":
			used[name] = *resource.NewQuantity(int64(len(pods)), resource.DecimalSI)
		case name == corev1.ResourceCPU || name == corev1.ResourceRequestsCPU:
			used[name] = podSum(false, corev1.ResourceCPU)
		case name == corev1.ResourceMemory || name == corev1.ResourceRequestsMemory:
			used[name] = podSum(false, corev1.ResourceMemory)
		case name == corev1.ResourceRequestsEphemeralStorage || name == corev1.ResourceEphemeralStorage:
			used[name] = podSum(false, corev1.ResourceEphemeralStorage)
		case strings.HasPrefix(n, "limits."):
			used[name] = podSum(true, corev1.ResourceName(strings.TrimPrefix(n, "limits.")))
		case strings.HasPrefix(n, "requests.") && name != corev1.ResourceRequestsStorage:
			used[name] = podSum(false, corev1.ResourceName(strings.TrimPrefix(n, "requests.")))
		case name == corev1.ResourceServices || n == "count/services":
			used[name] = *resource.NewQuantity(int64(len(o.services)), resource.DecimalSI)
		case name == corev1.ResourceServicesLoadBalancers:
			used[name] = *resource.NewQuantity(countServices(o.services, func(s *corev1.Service) int { return b2i(s.Spec.Type == corev1.ServiceTypeLoadBalancer) }), resource.DecimalSI)
		case name == corev1.ResourceServicesNodePorts:
			used[name] = *resource.NewQuantity(countServices(o.services, func(s *corev1.Service) int {
				if s.Spec.Type != corev1.ServiceTypeNodePort && s.Spec.Type != corev1.ServiceTypeLoadBalancer {
					return 0
				}
				n := 0
				for _, p := range s.Spec.Ports {
					if p.NodePort != 0 {
						n++
					}
				}
				return n
			}), resource.DecimalSI)
		case name == corev1.ResourcePersistentVolumeClaims || n == "count/persistentvolumeclaims":
			used[name] = *resource.NewQuantity(int64(len(o.pvcs)), resource.DecimalSI)
		case name == corev1.ResourceRequestsStorage:
			var q resource.Quantity
			for _, c := range o.pvcs {
				if v, ok := c.Spec.Resources.Requests[corev1.ResourceStorage]; ok {
					q.Add(v)
				}
			}
			used[name] = q
		case name == corev1.ResourceConfigMaps:
			countInto(used, name, "configmaps", o)
		case name == corev1.ResourceSecrets:
			countInto(used, name, "secrets", o)
		case name == corev1.ResourceReplicationControllers:
			countInto(used, name, "replicationcontrollers", o)
		case name == corev1.ResourceQuotas:
			countInto(used, name, "resourcequotas", o)
		case strings.HasPrefix(n, "count/"):
			countInto(used, name, strings.TrimPrefix(n, "count/"), o)
		}
	}
	return used
}

func countInto(used corev1.ResourceList, name corev1.ResourceName, rg string, o objects) {
	if o.count == nil {
		return
	}
	if n, ok := o.count(rg); ok {
		used[name] = *resource.NewQuantity(n, resource.DecimalSI)
	}
}

func countServices(svcs []*corev1.Service, f func(*corev1.Service) int) int64 {
	var n int64
	for _, s := range svcs {
		n += int64(f(s))
	}
	return n
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}
