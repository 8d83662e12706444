// Package quota holds what a ResourceQuota charges for a pod, shared by the
// API server's quota admission and the resource quota controller so that
// the two always agree.
package quota

import corev1 "k8s.io/api/core/v1"

// PodResources returns a pod's effective requests (or limits): the larger
// of its containers' sum and its largest init container, plus overhead.
func PodResources(p *corev1.Pod, limits bool) corev1.ResourceList {
	pick := func(c *corev1.Container) corev1.ResourceList {
		if limits {
			return c.Resources.Limits
		}
		return c.Resources.Requests
	}
	sum := corev1.ResourceList{}
	for i := range p.Spec.Containers {
		for k, v := range pick(&p.Spec.Containers[i]) {
			q := sum[k]
			q.Add(v)
			sum[k] = q
		}
	}
	for i := range p.Spec.InitContainers {
		for k, v := range pick(&p.Spec.InitContainers[i]) {
			if q, ok := sum[k]; !ok || v.Cmp(q) > 0 {
				sum[k] = v.DeepCopy()
			}
		}
	}
	for k, v := range p.Spec.Overhead {
		q := sum[k]
		q.Add(v)
		sum[k] = q
	}
	return sum
}

// IsBestEffort reports whether no container of p requests or limits anything.
func IsBestEffort(p *corev1.Pod) bool {
	for _, cs := range [][]corev1.Container{p.Spec.InitContainers, p.Spec.Containers} {
		for _, c := range cs {
			if len(c.Resources.Requests) > 0 || len(c.Resources.Limits) > 0 {
				return false
			}
		}
	}
	return true
}

// PodMatchesScopes reports whether a quota with these scopes covers p. A
// scope this package does not know covers nothing.
func PodMatchesScopes(p *corev1.Pod, scopes []corev1.ResourceQuotaScope) bool {
	for _, s := range scopes {
		switch s {
		case corev1.ResourceQuotaScopeTerminating:
			if p.Spec.ActiveDeadlineSeconds == nil {
				return false
			}
		case corev1.ResourceQuotaScopeNotTerminating:
			if p.Spec.ActiveDeadlineSeconds != nil {
				return false
			}
		case corev1.ResourceQuotaScopeBestEffort:
			if !IsBestEffort(p) {
				return false
			}
		case corev1.ResourceQuotaScopeNotBestEffort:
			if IsBestEffort(p) {
				return false
			}
		default:
			return false
		}
	}
	return true
}
