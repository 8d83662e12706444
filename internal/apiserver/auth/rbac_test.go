package auth

import (
	"context"
	"testing"

	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

type fakeSource struct {
	clusterRoles map[string]*rbacv1.ClusterRole
	roles        map[string]*rbacv1.Role
	crbs         []*rbacv1.ClusterRoleBinding
	rbs          []*rbacv1.RoleBinding
}

func (f fakeSource) ClusterRole(n string) (*rbacv1.ClusterRole, bool) {
	r, ok := f.clusterRoles[n]
	return r, ok
}
func (f fakeSource) Role(ns, n string) (*rbacv1.Role, bool) { r, ok := f.roles[ns+"/"+n]; return r, ok }
func (f fakeSource) ClusterRoleBindings() []*rbacv1.ClusterRoleBinding {
	return f.crbs
}
func (f fakeSource) RoleBindings(ns string) []*rbacv1.RoleBinding {
	var out []*rbacv1.RoleBinding
	for _, b := range f.rbs {
		if b.Namespace == ns {
			out = append(out, b)
		}
	}
	return out
}

func TestRBAC(t *testing.T) {
	roles, bindings := BootstrapPolicy()
	src := fakeSource{clusterRoles: map[string]*rbacv1.ClusterRole{}, roles: map[string]*rbacv1.Role{}, crbs: bindings}
	for _, r := range roles {
		src.clusterRoles[r.Name] = r
	}
	src.roles["team/cm-reader"] = &rbacv1.Role{Rules: []rbacv1.PolicyRule{
		{Verbs: []string{"get"}, APIGroups: []string{""}, Resources: []string{"configmaps"}, ResourceNames: []string{"app-config"}},
		{Verbs: []string{"get", "update"}, APIGroups: []string{"apps"}, Resources: []string{"deployments/scale"}},
	}}
	src.rbs = []*rbacv1.RoleBinding{
		{ObjectMeta: metav1.ObjectMeta{Namespace: "team"}, RoleRef: rbacv1.RoleRef{Kind: "Role", Name: "cm-reader"},
			Subjects: []rbacv1.Subject{{Kind: rbacv1.UserKind, Name: "alice"}, {Kind: rbacv1.ServiceAccountKind, Name: "bot"}}},
		// edit itself is empty until the aggregation controller fills it.
		{ObjectMeta: metav1.ObjectMeta{Namespace: "team"}, RoleRef: rbacv1.RoleRef{Kind: "ClusterRole", Name: "system:aggregate-to-edit"},
			Subjects: []rbacv1.Subject{{Kind: rbacv1.GroupKind, Name: "devs"}}},
	}
	a := &RBAC{Source: src}
	alice := &User{Name: "alice", Groups: []string{GroupAuthenticated}}
	bot := &User{Name: "system:serviceaccount:team:bot", Groups: []string{GroupAuthenticated}}
	dev := &User{Name: "dan", Groups: []string{"devs", GroupAuthenticated}}
	admin := &User{Name: "root", Groups: []string{GroupMasters}}
	res := func(u *User, verb, ns, group, resource, sub, name string) Attributes {
		return Attributes{User: u, Verb: verb, Namespace: ns, APIGroup: group, Resource: resource, Subresource: sub, Name: name, ResourceRequest: true}
	}
	tests := []struct {
		name string
		a    Attributes
		want bool
	}{
		{"named configmap", res(alice, "get", "team", "", "configmaps", "", "app-config"), true},
		{"other configmap", res(alice, "get", "team", "", "configmaps", "", "other"), false},
		{"list is not a named get", res(alice, "list", "team", "", "configmaps", "", ""), false},
		{"other namespace", res(alice, "get", "prod", "", "configmaps", "", "app-config"), false},
		{"service account subject", res(bot, "get", "team", "", "configmaps", "", "app-config"), true},
		{"subresource rule", res(alice, "update", "team", "apps", "deployments", "scale", "web"), true},
		{"not the main resource", res(alice, "update", "team", "apps", "deployments", "", "web"), false},
		{"group through edit's rules", res(dev, "create", "team", "apps", "deployments", "", ""), true},
		{"edit's rules cannot touch roles", res(dev, "create", "team", "rbac.authorization.k8s.io", "roles", "", ""), false},
		{"masters through cluster-admin", res(admin, "delete", "", "", "nodes", "", "n1"), true},
		{"discovery for everyone", Attributes{User: alice, Verb: "get", Path: "/apis/apps/v1"}, true},
		{"no other paths", Attributes{User: alice, Verb: "get", Path: "/metrics"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, _, err := a.Authorize(context.Background(), tt.a)
			if err != nil || got != tt.want {
				t.Errorf("Authorize = %v, %v; want %v", got, err, tt.want)
			}
		})
	}
}
