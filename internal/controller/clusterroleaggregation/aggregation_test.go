package clusterroleaggregation_test

import (
	"context"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"skiff/internal/controller/clusterroleaggregation"
	"skiff/internal/server/servertest"
)

func TestMain(m *testing.M) { servertest.Main(m) }

func role(name string, labels map[string]string, rules ...rbacv1.PolicyRule) *rbacv1.ClusterRole {
	return &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}, Rules: rules}
}

func rule(verb, resource string) rbacv1.PolicyRule {
	return rbacv1.PolicyRule{Verbs: []string{verb}, APIGroups: []string{""}, Resources: []string{resource}}
}

func TestAggregate(t *testing.T) {
	sel := func(kv ...string) *rbacv1.ClusterRole {
		r := role("agg", map[string]string{"a": "true"}, rule("stale", "x"))
		r.AggregationRule = &rbacv1.AggregationRule{}
		for i := 0; i < len(kv); i += 2 {
			r.AggregationRule.ClusterRoleSelectors = append(r.AggregationRule.ClusterRoleSelectors,
				metav1.LabelSelector{MatchLabels: map[string]string{kv[i]: kv[i+1]}})
		}
		return r
	}
	all := []*rbacv1.ClusterRole{
		role("b", map[string]string{"a": "true"}, rule("get", "pods"), rule("list", "pods")),
		role("a", map[string]string{"a": "true", "b": "true"}, rule("get", "secrets"), rule("get", "pods")),
		role("c", map[string]string{"b": "true"}, rule("get", "nodes")),
		role("d", nil, rule("*", "*")),
	}
	tests := []struct {
		name string
		role *rbacv1.ClusterRole
		want []rbacv1.PolicyRule
	}{
		{"roles by name, each rule once, not itself", sel("a", "true"), []rbacv1.PolicyRule{rule("get", "secrets"), rule("get", "pods"), rule("list", "pods")}},
		{"selectors in order", sel("b", "true", "a", "true"), []rbacv1.PolicyRule{rule("get", "secrets"), rule("get", "pods"), rule("get", "nodes"), rule("list", "pods")}},
		{"nothing matches", sel("z", "true"), []rbacv1.PolicyRule{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := clusterroleaggregation.Aggregate(tt.role, append(all, tt.role))
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("rules (-want +got):\n%s", diff)
			}
		})
	}
}

// TestDefaultRolesAggregate runs the controller on a fresh server: admin,
// edit and view get upstream's rules from system:aggregate-to-*, a role
// labelled aggregate-to-edit adds its rules to edit and, through edit's
// own label, to admin but not view, and they go when it does.
func TestDefaultRolesAggregate(t *testing.T) {
	env := servertest.Start(t, nil)
	ctx := context.Background()
	env.RunController(t, clusterroleaggregation.New, nil)
	crs := env.Client.RbacV1().ClusterRoles()
	rulesOf := func(name string) []rbacv1.PolicyRule {
		r, err := crs.Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return r.Rules
	}
	holds := func(have []rbacv1.PolicyRule, want ...rbacv1.PolicyRule) bool {
		for _, w := range want {
			if !slices.ContainsFunc(have, func(h rbacv1.PolicyRule) bool { return equality.Semantic.DeepEqual(h, w) }) {
				return false
			}
		}
		return true
	}
	view, edit, admin := rulesOf("system:aggregate-to-view"), rulesOf("system:aggregate-to-edit"), rulesOf("system:aggregate-to-admin")
	servertest.Wait(t, "admin, edit and view to aggregate", func(context.Context) (bool, error) {
		return holds(rulesOf("view"), view...) && holds(rulesOf("edit"), append(edit, view...)...) &&
			holds(rulesOf("admin"), append(admin, append(edit, view...)...)...), nil
	})
	if holds(rulesOf("view"), edit[0]) {
		t.Errorf("view holds edit's rule %v", edit[0])
	}

	extra := rbacv1.PolicyRule{Verbs: []string{"get", "list"}, APIGroups: []string{"example.com"}, Resources: []string{"widgets"}}
	if _, err := crs.Create(ctx, role("widgets-edit", map[string]string{"rbac.authorization.k8s.io/aggregate-to-edit": "true"}, extra), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	servertest.Wait(t, "the widgets rule in edit and admin", func(context.Context) (bool, error) {
		return holds(rulesOf("edit"), extra) && holds(rulesOf("admin"), extra), nil
	})
	if holds(rulesOf("view"), extra) {
		t.Error("view holds a rule aggregated to edit")
	}
	e, err := crs.Get(ctx, "edit", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if n := len(e.ManagedFields); n == 0 || !slices.ContainsFunc(e.ManagedFields, func(m metav1.ManagedFieldsEntry) bool {
		return m.Manager == "clusterrole-aggregation-controller" && m.Operation == metav1.ManagedFieldsOperationApply
	}) {
		t.Errorf("edit's managedFields %v: want an apply by clusterrole-aggregation-controller", e.ManagedFields)
	}

	if err := crs.Delete(ctx, "widgets-edit", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	servertest.Wait(t, "the widgets rule to leave edit and admin", func(context.Context) (bool, error) {
		return !holds(rulesOf("edit"), extra) && !holds(rulesOf("admin"), extra), nil
	})
}
