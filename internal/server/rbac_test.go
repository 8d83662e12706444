package server_test

import (
	"context"
	"slices"
	"testing"

	authorizationv1 "k8s.io/api/authorization/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"skiff/internal/apiserver/auth"
	"skiff/internal/node"
	"skiff/internal/server"
	"skiff/internal/server/servertest"
)

// TestRBACDefaultsReconciledAtStart changes a cluster's default roles and
// bindings as an older skiff, or an administrator, left them, restarts
// the server on its data, and finds what upstream's reconciliation gives:
// missing rules and subjects back, extra ones kept, a binding to another
// role recreated, a protected role untouched, and a hand-written edit role
// aggregated with its rules kept.
func TestRBACDefaultsReconciledAtStart(t *testing.T) {
	ctx := context.Background()
	s := servertest.Start(t, nil)
	rbac := s.Client.RbacV1()
	widgets := rbacv1.PolicyRule{Verbs: []string{"get"}, APIGroups: []string{"example.com"}, Resources: []string{"widgets"}}

	// edit as clusters had it before aggregation.
	if err := rbac.ClusterRoles().Delete(ctx, "system:aggregate-to-edit", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	edit, err := rbac.ClusterRoles().Get(ctx, "edit", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	edit.AggregationRule, edit.Rules = nil, []rbacv1.PolicyRule{widgets}
	if _, err := rbac.ClusterRoles().Update(ctx, edit, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	// A default role that lost rules and gained one.
	sched, err := rbac.ClusterRoles().Get(ctx, auth.SchedulerUser, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	sched.Rules = []rbacv1.PolicyRule{widgets}
	if _, err := rbac.ClusterRoles().Update(ctx, sched, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	// A default role its administrator took over.
	dns, err := rbac.ClusterRoles().Get(ctx, auth.DNSUser, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	dns.Annotations[auth.AutoUpdateAnnotation] = "false"
	dns.Rules = []rbacv1.PolicyRule{widgets}
	if _, err := rbac.ClusterRoles().Update(ctx, dns, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	// A binding with other subjects, one to another role, a missing Role.
	sb, err := rbac.ClusterRoleBindings().Get(ctx, auth.SchedulerUser, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	someone := rbacv1.Subject{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: "someone"}
	sb.Subjects = []rbacv1.Subject{someone}
	if _, err := rbac.ClusterRoleBindings().Update(ctx, sb, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := rbac.ClusterRoleBindings().Delete(ctx, "system:volume-scheduler", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := rbac.ClusterRoleBindings().Create(ctx, &rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "system:volume-scheduler"},
		RoleRef: rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "view"}, Subjects: []rbacv1.Subject{someone}},
		metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := rbac.Roles("kube-system").Delete(ctx, auth.JoinUser, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	s.Close()

	// Restart with the aggregation controller, which fills edit.
	s = servertest.Start(t, func(cfg *server.Config) {
		cfg.DataDir = s.DataDir
		cfg.Disable = []string{"scheduler"}
		for _, name := range server.ControllerNames() {
			if name != "clusterrole-aggregation" {
				cfg.Disable = append(cfg.Disable, name)
			}
		}
	})
	rbac = s.Client.RbacV1()
	get := func(name string) *rbacv1.ClusterRole {
		r, err := rbac.ClusterRoles().Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	has := func(rules []rbacv1.PolicyRule, want ...rbacv1.PolicyRule) bool {
		ok, _ := auth.Covers(rules, want)
		return ok
	}
	binds := rbacv1.PolicyRule{Verbs: []string{"create"}, APIGroups: []string{""}, Resources: []string{"pods/binding"}}
	if r := get(auth.SchedulerUser); !has(r.Rules, widgets, binds) {
		t.Errorf("%s rules = %v; want its own back and the extra kept", auth.SchedulerUser, r.Rules)
	}
	if r := get(auth.DNSUser); !has(r.Rules, widgets) || has(r.Rules, rbacv1.PolicyRule{Verbs: []string{"watch"}, APIGroups: []string{""}, Resources: []string{"nodes"}}) {
		t.Errorf("protected %s rules = %v; want them as its administrator left them", auth.DNSUser, r.Rules)
	}
	primed := get("system:aggregate-to-edit")
	createDeployments := rbacv1.PolicyRule{Verbs: []string{"create"}, APIGroups: []string{"apps"}, Resources: []string{"deployments"}}
	if !has(primed.Rules, widgets, createDeployments) || primed.Labels[auth.AggregateToEdit] != "true" {
		t.Errorf("system:aggregate-to-edit = %v %v; want the old edit's rules, the default ones, and its label", primed.Labels, primed.Rules)
	}
	servertest.Wait(t, "edit aggregated again, with its old rules", func(context.Context) (bool, error) {
		r := get("edit")
		return r.AggregationRule != nil && has(r.Rules, widgets, createDeployments), nil
	})
	b, err := rbac.ClusterRoleBindings().Get(ctx, auth.SchedulerUser, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	names := func(subjects []rbacv1.Subject) []string {
		var out []string
		for _, s := range subjects {
			out = append(out, s.Name)
		}
		slices.Sort(out)
		return out
	}
	if got := names(b.Subjects); !slices.Equal(got, []string{"someone", auth.SchedulerUser}) {
		t.Errorf("%s binding subjects = %v; want the scheduler added and someone kept", auth.SchedulerUser, got)
	}
	vb, err := rbac.ClusterRoleBindings().Get(ctx, "system:volume-scheduler", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if vb.RoleRef.Name != "system:volume-scheduler" || !slices.Equal(names(vb.Subjects), []string{auth.SchedulerUser}) {
		t.Errorf("system:volume-scheduler binding = %v %v; want it recreated as the default", vb.RoleRef, names(vb.Subjects))
	}
	if _, err := rbac.Roles("kube-system").Get(ctx, auth.JoinUser, metav1.GetOptions{}); err != nil {
		t.Errorf("kube-system Role %s: %v; want it created again", auth.JoinUser, err)
	}
	if node.DNSUser != auth.DNSUser {
		t.Errorf("the DNS runs as %q but the policy binds %q", node.DNSUser, auth.DNSUser)
	}
	if node.IngressUser != auth.IngressUser {
		t.Errorf("the ingress controller runs as %q but the policy binds %q", node.IngressUser, auth.IngressUser)
	}
}

// TestRBACIngressController checks the ingress controller's identity has
// the reads it routes by and nothing more.
func TestRBACIngressController(t *testing.T) {
	ctx := context.Background()
	s := servertest.Start(t, nil)
	tests := []struct {
		verb, group, resource string
		want                  bool
	}{
		{"list", "networking.k8s.io", "ingresses", true},
		{"watch", "networking.k8s.io", "ingressclasses", true},
		{"watch", "", "services", true},
		{"list", "discovery.k8s.io", "endpointslices", true},
		{"watch", "", "secrets", true},
		{"create", "", "secrets", false},
		{"update", "networking.k8s.io", "ingresses", false},
		{"list", "", "pods", false},
		{"list", "", "configmaps", false},
	}
	for _, tt := range tests {
		sar := &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{User: node.IngressUser,
			ResourceAttributes: &authorizationv1.ResourceAttributes{Verb: tt.verb, Group: tt.group, Resource: tt.resource}}}
		got, err := s.Client.AuthorizationV1().SubjectAccessReviews().Create(ctx, sar, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if got.Status.Allowed != tt.want {
			t.Errorf("%s may %s %s.%s: %v; want %v", node.IngressUser, tt.verb, tt.resource, tt.group, got.Status.Allowed, tt.want)
		}
	}
}
