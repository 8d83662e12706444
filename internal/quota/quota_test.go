package quota

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

func TestPodMatches(t *testing.T) {
	plain := &corev1.Pod{Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c"}}}}
	burstable := &corev1.Pod{Spec: corev1.PodSpec{PriorityClassName: "high", ActiveDeadlineSeconds: ptr.To[int64](60),
		Containers: []corev1.Container{{Name: "c", Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1")}}}}}}
	cross := &corev1.Pod{Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c"}}, Affinity: &corev1.Affinity{PodAntiAffinity: &corev1.PodAntiAffinity{
		PreferredDuringSchedulingIgnoredDuringExecution: []corev1.WeightedPodAffinityTerm{{Weight: 1, PodAffinityTerm: corev1.PodAffinityTerm{
			TopologyKey: "kubernetes.io/hostname", NamespaceSelector: &metav1.LabelSelector{}}}}}}}}
	sel := func(r ...corev1.ScopedResourceSelectorRequirement) corev1.ResourceQuotaSpec {
		return corev1.ResourceQuotaSpec{ScopeSelector: &corev1.ScopeSelector{MatchExpressions: r}}
	}
	class := func(op corev1.ScopeSelectorOperator, v ...string) corev1.ScopedResourceSelectorRequirement {
		return corev1.ScopedResourceSelectorRequirement{ScopeName: corev1.ResourceQuotaScopePriorityClass, Operator: op, Values: v}
	}
	exists := func(s corev1.ResourceQuotaScope) corev1.ScopedResourceSelectorRequirement {
		return corev1.ScopedResourceSelectorRequirement{ScopeName: s, Operator: corev1.ScopeSelectorOpExists}
	}
	tests := []struct {
		name string
		pod  *corev1.Pod
		spec corev1.ResourceQuotaSpec
		want bool
	}{
		{"no scopes", plain, corev1.ResourceQuotaSpec{}, true},
		{"BestEffort", plain, corev1.ResourceQuotaSpec{Scopes: []corev1.ResourceQuotaScope{corev1.ResourceQuotaScopeBestEffort}}, true},
		{"NotBestEffort", plain, corev1.ResourceQuotaSpec{Scopes: []corev1.ResourceQuotaScope{corev1.ResourceQuotaScopeNotBestEffort}}, false},
		{"Terminating and NotBestEffort", burstable, corev1.ResourceQuotaSpec{Scopes: []corev1.ResourceQuotaScope{
			corev1.ResourceQuotaScopeTerminating, corev1.ResourceQuotaScopeNotBestEffort}}, true},
		{"NotTerminating", burstable, corev1.ResourceQuotaSpec{Scopes: []corev1.ResourceQuotaScope{corev1.ResourceQuotaScopeNotTerminating}}, false},
		{"PriorityClass In", burstable, sel(class(corev1.ScopeSelectorOpIn, "high", "mid")), true},
		{"PriorityClass In, another class", burstable, sel(class(corev1.ScopeSelectorOpIn, "low")), false},
		{"PriorityClass NotIn", burstable, sel(class(corev1.ScopeSelectorOpNotIn, "high")), false},
		{"PriorityClass NotIn, no class", plain, sel(class(corev1.ScopeSelectorOpNotIn, "high")), true},
		{"PriorityClass Exists", burstable, sel(class(corev1.ScopeSelectorOpExists)), true},
		{"PriorityClass Exists, no class", plain, sel(class(corev1.ScopeSelectorOpExists)), false},
		{"PriorityClass DoesNotExist", plain, sel(class(corev1.ScopeSelectorOpDoesNotExist)), true},
		{"selector and scopes both hold", burstable, corev1.ResourceQuotaSpec{Scopes: []corev1.ResourceQuotaScope{corev1.ResourceQuotaScopeTerminating},
			ScopeSelector: &corev1.ScopeSelector{MatchExpressions: []corev1.ScopedResourceSelectorRequirement{class(corev1.ScopeSelectorOpIn, "high")}}}, true},
		{"selector with two requirements, one fails", burstable, sel(class(corev1.ScopeSelectorOpIn, "high"), exists(corev1.ResourceQuotaScopeBestEffort)), false},
		{"CrossNamespacePodAffinity", cross, sel(exists(corev1.ResourceQuotaScopeCrossNamespacePodAffinity)), true},
		{"CrossNamespacePodAffinity, none", plain, sel(exists(corev1.ResourceQuotaScopeCrossNamespacePodAffinity)), false},
		{"unknown scope", plain, corev1.ResourceQuotaSpec{Scopes: []corev1.ResourceQuotaScope{"Imaginary"}}, false},
	}
	for _, tt := range tests {
		if got := PodMatches(tt.pod, tt.spec); got != tt.want {
			t.Errorf("%s: PodMatches = %v, want %v", tt.name, got, tt.want)
		}
	}
	if Scoped(corev1.ResourceQuotaSpec{}) || !Scoped(sel(class(corev1.ScopeSelectorOpExists))) {
		t.Error("Scoped is wrong")
	}
}
