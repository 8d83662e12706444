package auth

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestReconcileClusterRole(t *testing.T) {
	getPods := rule([]string{"get"}, []string{""}, "pods")
	listPods := rule([]string{"list"}, []string{""}, "pods")
	getPodsAndNodes := rule([]string{"get"}, []string{""}, "pods", "nodes")
	sel := func(label string) metav1.LabelSelector {
		return metav1.LabelSelector{MatchLabels: map[string]string{label: "true"}}
	}
	role := func(annotations map[string]string, agg *rbacv1.AggregationRule, rules ...rbacv1.PolicyRule) *rbacv1.ClusterRole {
		return &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: "r", Annotations: annotations}, Rules: rules, AggregationRule: agg}
	}
	aggregate := func(labels ...string) *rbacv1.AggregationRule {
		a := &rbacv1.AggregationRule{}
		for _, l := range labels {
			a.ClusterRoleSelectors = append(a.ClusterRoleSelectors, sel(l))
		}
		return a
	}
	on := map[string]string{AutoUpdateAnnotation: "true"}
	off := map[string]string{AutoUpdateAnnotation: "false"}
	tests := []struct {
		name        string
		existing    *rbacv1.ClusterRole
		expected    *rbacv1.ClusterRole
		want        *rbacv1.ClusterRole
		wantChanged bool
	}{
		{"covered: unchanged", role(on, nil, getPodsAndNodes), role(on, nil, getPods), role(on, nil, getPodsAndNodes), false},
		{"missing rule added, extra kept", role(on, nil, getPodsAndNodes), role(on, nil, listPods), role(on, nil, getPodsAndNodes, listPods), true},
		{"no annotation is reconciled, and gets it", role(nil, nil, getPods), role(on, nil, listPods), role(on, nil, getPods, listPods), true},
		{"annotation kept when the administrator set it true", role(on, nil), role(on, nil), role(on, nil), false},
		{"protected: left alone", role(off, nil, getPods), role(on, nil, listPods), role(off, nil, getPods), false},
		{"hand-written role becomes aggregated, its rules kept",
			role(on, nil, getPods), role(on, aggregate("a")), role(on, aggregate("a"), getPods), true},
		{"missing selector added", role(on, aggregate("b")), role(on, aggregate("a")), role(on, aggregate("b", "a")), true},
		{"aggregation no longer expected: dropped", role(on, aggregate("a")), role(on, nil), role(on, nil), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, changed := ReconcileClusterRole(tt.existing, tt.expected)
			if changed != tt.wantChanged {
				t.Errorf("changed = %v, want %v", changed, tt.wantChanged)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("role (-want +got):\n%s", diff)
			}
		})
	}
}

func TestReconcileRoleBinding(t *testing.T) {
	ref := func(name string) rbacv1.RoleRef {
		return rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: name}
	}
	binding := func(annotations map[string]string, roleRef rbacv1.RoleRef, subjects ...rbacv1.Subject) *rbacv1.RoleBinding {
		return &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "b", Namespace: "kube-system", Annotations: annotations},
			RoleRef: roleRef, Subjects: subjects}
	}
	on := map[string]string{AutoUpdateAnnotation: "true"}
	off := map[string]string{AutoUpdateAnnotation: "false"}
	alice, bob := user("alice"), user("bob")
	sa := serviceAccount("kube-system", "x")
	tests := []struct {
		name     string
		existing *rbacv1.RoleBinding
		expected *rbacv1.RoleBinding
		want     *rbacv1.RoleBinding
		wantWhat BindingReconcile
	}{
		{"same subjects", binding(on, ref("r"), alice), binding(on, ref("r"), alice), binding(on, ref("r"), alice), BindingUnchanged},
		{"missing subject added, extra kept", binding(on, ref("r"), bob), binding(on, ref("r"), alice, sa),
			binding(on, ref("r"), bob, alice, sa), BindingUpdate},
		{"subject matched by kind, name and namespace", binding(on, ref("r"), rbacv1.Subject{Kind: rbacv1.UserKind, Name: "alice"}),
			binding(on, ref("r"), alice), binding(on, ref("r"), rbacv1.Subject{Kind: rbacv1.UserKind, Name: "alice"}), BindingUnchanged},
		{"other role: recreated as expected", binding(on, ref("old"), bob), binding(on, ref("r"), alice), binding(on, ref("r"), alice), BindingRecreate},
		{"protected: left alone", binding(off, ref("old"), bob), binding(on, ref("r"), alice), binding(off, ref("old"), bob), BindingUnchanged},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, what := ReconcileRoleBinding(tt.existing, tt.expected)
			if what != tt.wantWhat {
				t.Errorf("decision = %v, want %v", what, tt.wantWhat)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("binding (-want +got):\n%s", diff)
			}
		})
	}
}
