// Package quota holds what a ResourceQuota charges for a pod, shared by the
// API server's quota admission and the resource quota controller so that
// the two always agree.
package quota

import (
	"slices"

	corev1 "k8s.io/api/core/v1"
)

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

// Scoped reports whether a quota has scopes or a scope selector: such a
// quota counts only pods (and nothing else, as upstream's validation
// allows scopes only on pod resources).
func Scoped(spec corev1.ResourceQuotaSpec) bool {
	return len(spec.Scopes) > 0 || (spec.ScopeSelector != nil && len(spec.ScopeSelector.MatchExpressions) > 0)
}

// PodMatches reports whether a quota with spec's scopes and scope selector
// covers p: every scope, and every requirement of the selector, must hold.
// A scope this package does not know covers nothing.
func PodMatches(p *corev1.Pod, spec corev1.ResourceQuotaSpec) bool {
	for _, s := range spec.Scopes {
		if !podMatches(p, corev1.ScopedResourceSelectorRequirement{ScopeName: s, Operator: corev1.ScopeSelectorOpExists}) {
			return false
		}
	}
	if spec.ScopeSelector != nil {
		for _, r := range spec.ScopeSelector.MatchExpressions {
			if !podMatches(p, r) {
				return false
			}
		}
	}
	return true
}

// podMatches is one scope requirement. The four pod-state scopes hold or
// not whatever the operator (validation allows them only Exists); the
// PriorityClass scope compares the pod's priorityClassName.
func podMatches(p *corev1.Pod, r corev1.ScopedResourceSelectorRequirement) bool {
	switch r.ScopeName {
	case corev1.ResourceQuotaScopeTerminating:
		return isTerminating(p)
	case corev1.ResourceQuotaScopeNotTerminating:
		return !isTerminating(p)
	case corev1.ResourceQuotaScopeBestEffort:
		return IsBestEffort(p)
	case corev1.ResourceQuotaScopeNotBestEffort:
		return !IsBestEffort(p)
	case corev1.ResourceQuotaScopeCrossNamespacePodAffinity:
		return crossNamespaceAffinity(p)
	case corev1.ResourceQuotaScopePriorityClass:
		name := p.Spec.PriorityClassName
		switch r.Operator {
		case corev1.ScopeSelectorOpExists:
			return name != ""
		case corev1.ScopeSelectorOpDoesNotExist:
			return name == ""
		case corev1.ScopeSelectorOpIn:
			return name != "" && slices.Contains(r.Values, name)
		case corev1.ScopeSelectorOpNotIn:
			return !slices.Contains(r.Values, name)
		}
	}
	return false
}

// isTerminating: a pod with an active deadline ends on its own.
func isTerminating(p *corev1.Pod) bool {
	return p.Spec.ActiveDeadlineSeconds != nil && *p.Spec.ActiveDeadlineSeconds >= 0
}

// crossNamespaceAffinity reports whether a pod (anti-)affinity term of p
// looks at other namespaces (namespaces or a namespaceSelector).
func crossNamespaceAffinity(p *corev1.Pod) bool {
	a := p.Spec.Affinity
	if a == nil {
		return false
	}
	cross := func(t corev1.PodAffinityTerm) bool { return len(t.Namespaces) > 0 || t.NamespaceSelector != nil }
	var terms []corev1.PodAffinityTerm
	if a.PodAffinity != nil {
		terms = append(terms, a.PodAffinity.RequiredDuringSchedulingIgnoredDuringExecution...)
		for _, w := range a.PodAffinity.PreferredDuringSchedulingIgnoredDuringExecution {
			terms = append(terms, w.PodAffinityTerm)
		}
	}
	if a.PodAntiAffinity != nil {
		terms = append(terms, a.PodAntiAffinity.RequiredDuringSchedulingIgnoredDuringExecution...)
		for _, w := range a.PodAntiAffinity.PreferredDuringSchedulingIgnoredDuringExecution {
			terms = append(terms, w.PodAffinityTerm)
		}
	}
	return slices.ContainsFunc(terms, cross)
}
