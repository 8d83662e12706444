package auth

import (
	"context"
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestCovers(t *testing.T) {
	pods := rbacv1.PolicyRule{Verbs: []string{"get", "list"}, APIGroups: []string{""}, Resources: []string{"pods"}}
	tests := []struct {
		name        string
		owner, want []rbacv1.PolicyRule
		missing     []rbacv1.PolicyRule
	}{
		{name: "same rule", owner: []rbacv1.PolicyRule{pods}, want: []rbacv1.PolicyRule{pods}},
		{name: "star covers", owner: fullAuthority, want: []rbacv1.PolicyRule{pods, {Verbs: []string{"get"}, NonResourceURLs: []string{"/x"}}}},
		{
			name:    "one verb missing",
			owner:   []rbacv1.PolicyRule{{Verbs: []string{"get"}, APIGroups: []string{""}, Resources: []string{"pods"}}},
			want:    []rbacv1.PolicyRule{pods},
			missing: []rbacv1.PolicyRule{{Verbs: []string{"list"}, APIGroups: []string{""}, Resources: []string{"pods"}}},
		},
		{
			name:    "a star is covered only by a star",
			owner:   []rbacv1.PolicyRule{{Verbs: []string{"get", "list", "watch", "create", "update", "patch", "delete"}, APIGroups: []string{""}, Resources: []string{"pods"}}},
			want:    []rbacv1.PolicyRule{{Verbs: []string{"*"}, APIGroups: []string{""}, Resources: []string{"pods"}}},
			missing: []rbacv1.PolicyRule{{Verbs: []string{"*"}, APIGroups: []string{""}, Resources: []string{"pods"}}},
		},
		{
			name:  "subresource wildcard",
			owner: []rbacv1.PolicyRule{{Verbs: []string{"get"}, APIGroups: []string{""}, Resources: []string{"*/log"}}},
			want:  []rbacv1.PolicyRule{{Verbs: []string{"get"}, APIGroups: []string{""}, Resources: []string{"pods/log"}}},
		},
		{
			name:    "named owner does not cover unnamed",
			owner:   []rbacv1.PolicyRule{{Verbs: []string{"get"}, APIGroups: []string{""}, Resources: []string{"secrets"}, ResourceNames: []string{"a"}}},
			want:    []rbacv1.PolicyRule{{Verbs: []string{"get"}, APIGroups: []string{""}, Resources: []string{"secrets"}, ResourceNames: []string{"a", "b"}}},
			missing: []rbacv1.PolicyRule{{Verbs: []string{"get"}, APIGroups: []string{""}, Resources: []string{"secrets"}, ResourceNames: []string{"b"}}},
		},
		{
			name:  "url prefix",
			owner: []rbacv1.PolicyRule{{Verbs: []string{"get"}, NonResourceURLs: []string{"/apis/*"}}},
			want:  []rbacv1.PolicyRule{{Verbs: []string{"get"}, NonResourceURLs: []string{"/apis/apps"}}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ok, missing := Covers(tt.owner, tt.want)
			if diff := cmp.Diff(tt.missing, missing); diff != "" || ok != (len(tt.missing) == 0) {
				t.Errorf("Covers = %v, missing (-want +got):\n%s", ok, diff)
			}
		})
	}
}

func TestEscalationCheck(t *testing.T) {
	src := fakeSource{clusterRoles: map[string]*rbacv1.ClusterRole{
		"cluster-admin": {Rules: fullAuthority},
		"binder": {Rules: []rbacv1.PolicyRule{
			{Verbs: []string{"create"}, APIGroups: []string{rbacv1.GroupName}, Resources: []string{"rolebindings"}},
			{Verbs: []string{"get", "list"}, APIGroups: []string{""}, Resources: []string{"pods"}},
		}},
		"pod-reader":  {Rules: []rbacv1.PolicyRule{{Verbs: []string{"get", "list"}, APIGroups: []string{""}, Resources: []string{"pods"}}}},
		"may-bind-ca": {Rules: []rbacv1.PolicyRule{{Verbs: []string{"bind"}, APIGroups: []string{rbacv1.GroupName}, Resources: []string{"clusterroles"}, ResourceNames: []string{"cluster-admin"}}}},
		"escalator":   {Rules: []rbacv1.PolicyRule{{Verbs: []string{"escalate"}, APIGroups: []string{rbacv1.GroupName}, Resources: []string{"clusterroles"}}}},
	}, roles: map[string]*rbacv1.Role{}}
	binding := func(ns, role string, user string) *rbacv1.RoleBinding {
		return &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Namespace: ns}, RoleRef: rbacv1.RoleRef{Kind: "ClusterRole", Name: role},
			Subjects: []rbacv1.Subject{{Kind: rbacv1.UserKind, Name: user}}}
	}
	src.rbs = []*rbacv1.RoleBinding{binding("team", "binder", "bob"), binding("team", "may-bind-ca", "carol"), binding("team", "binder", "carol")}
	src.crbs = []*rbacv1.ClusterRoleBinding{{RoleRef: rbacv1.RoleRef{Kind: "ClusterRole", Name: "escalator"},
		Subjects: []rbacv1.Subject{{Kind: rbacv1.UserKind, Name: "erin"}}}}
	rbac := &RBAC{Source: src}
	e := &Escalation{RBAC: rbac, Authorizer: Chain{Masters{}, rbac}}
	bob := &User{Name: "bob", Groups: []string{GroupAuthenticated}}
	rb := func(role string) RBACWrite {
		return RBACWrite{User: bob, Resource: "rolebindings", Namespace: "team",
			Obj: &rbacv1.RoleBinding{RoleRef: rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: role}}}
	}
	star := &rbacv1.ClusterRole{Rules: []rbacv1.PolicyRule{{Verbs: []string{"*"}, APIGroups: []string{"*"}, Resources: []string{"*"}}}}
	withCarol := func(w RBACWrite) RBACWrite { w.User = &User{Name: "carol"}; return w }
	tests := []struct {
		name string
		w    RBACWrite
		want string // the error, "" for none
	}{
		{name: "bind a role one holds", w: rb("pod-reader")},
		{name: "bind cluster-admin", w: rb("cluster-admin"), want: `user "bob" (groups=["system:authenticated"]) is attempting to grant RBAC permissions not currently held:
{APIGroups:["*"], Resources:["*"], Verbs:["*"]}
{NonResourceURLs:["*"], Verbs:["*"]}`},
		{name: "bind with the bind verb on that role", w: withCarol(rb("cluster-admin"))},
		{name: "bind verb names one role only", w: withCarol(rb("escalator")), want: `user "carol" (groups=[]) is attempting to grant RBAC permissions not currently held:
{APIGroups:["rbac.authorization.k8s.io"], Resources:["clusterroles"], Verbs:["escalate"]}`},
		{name: "bind a missing role", w: rb("nope"), want: `clusterroles.rbac.authorization.k8s.io "nope" not found`},
		{name: "masters bind anything", w: RBACWrite{User: &User{Name: "root", Groups: []string{GroupMasters}}, Resource: "rolebindings", Namespace: "team", Obj: rb("cluster-admin").Obj}},
		{name: "cluster role with star", w: RBACWrite{User: bob, Resource: "clusterroles", Obj: star}, want: `user "bob" (groups=["system:authenticated"]) is attempting to grant RBAC permissions not currently held:
{APIGroups:["*"], Resources:["*"], Verbs:["*"]}`},
		{name: "cluster role by one who may escalate", w: RBACWrite{User: &User{Name: "erin"}, Resource: "clusterroles", Obj: star}},
		{name: "role held in its namespace", w: RBACWrite{User: bob, Resource: "roles", Namespace: "team", Obj: &rbacv1.Role{Rules: src.clusterRoles["pod-reader"].Rules}}},
		{name: "role held in another namespace only", w: RBACWrite{User: bob, Resource: "roles", Namespace: "prod", Obj: &rbacv1.Role{Rules: src.clusterRoles["pod-reader"].Rules}},
			want: `user "bob" (groups=["system:authenticated"]) is attempting to grant RBAC permissions not currently held:
{APIGroups:[""], Resources:["pods"], Verbs:["get" "list"]}`},
		{name: "aggregation rule needs everything", w: RBACWrite{User: bob, Resource: "clusterroles", Obj: &rbacv1.ClusterRole{
			AggregationRule: &rbacv1.AggregationRule{ClusterRoleSelectors: []metav1.LabelSelector{{MatchLabels: map[string]string{"a": "b"}}}}}},
			want: "must have cluster-admin privileges to use the aggregationRule"},
		{name: "only finalizers change", w: RBACWrite{User: bob, Resource: "clusterroles",
			Obj: &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Finalizers: []string{"x"}}, Rules: star.Rules}, Old: star}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := e.Check(context.Background(), tt.w)
			got := ""
			if err != nil {
				got = err.Error()
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Check (-want +got):\n%s", diff)
			}
			var nf *RoleNotFoundError
			var esc *EscalationError
			if err != nil && !errors.As(err, &nf) && !errors.As(err, &esc) {
				t.Errorf("error of type %T", err)
			}
		})
	}
}
