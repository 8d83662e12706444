package rbac

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"skiff/internal/apiserver/registry"
)

func resource(t *testing.T, name string) registry.Resource {
	t.Helper()
	for _, r := range Resources() {
		if r.Resource == name {
			return r
		}
	}
	t.Fatalf("no resource %q", name)
	return registry.Resource{}
}

func errStrings(errs field.ErrorList) []string {
	var out []string
	for _, e := range errs {
		out = append(out, e.Error())
	}
	return out
}

func TestDiscovery(t *testing.T) {
	got := map[string]bool{}
	for _, r := range Resources() {
		got[r.Resource+"/"+r.Kind] = r.Namespaced
	}
	want := map[string]bool{"roles/Role": true, "rolebindings/RoleBinding": true, "clusterroles/ClusterRole": false, "clusterrolebindings/ClusterRoleBinding": false}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("resources (-want +got):\n%s", diff)
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name     string
		resource string
		obj      runtime.Object
		want     []string
	}{
		{
			name:     "role without verbs",
			resource: "roles",
			obj:      &rbacv1.Role{Rules: []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"pods"}}}},
			want:     []string{"rules[0].verbs: Required value: verbs must contain at least one value"},
		},
		{
			name:     "role with non-resource URL",
			resource: "roles",
			obj:      &rbacv1.Role{Rules: []rbacv1.PolicyRule{{Verbs: []string{"get"}, NonResourceURLs: []string{"/healthz"}}}},
			want:     []string{`rules[0].nonResourceURLs: Invalid value: ["/healthz"]: namespaced rules cannot apply to non-resource URLs`},
		},
		{
			name:     "cluster role missing groups and resources",
			resource: "clusterroles",
			obj:      &rbacv1.ClusterRole{Rules: []rbacv1.PolicyRule{{Verbs: []string{"get"}}}},
			want: []string{
				"rules[0].apiGroups: Required value: resource rules must supply at least one api group",
				"rules[0].resources: Required value: resource rules must supply at least one resource",
			},
		},
		{
			name:     "valid cluster role",
			resource: "clusterroles",
			obj:      &rbacv1.ClusterRole{Rules: []rbacv1.PolicyRule{{Verbs: []string{"get"}, NonResourceURLs: []string{"/healthz"}}}},
		},
		{
			name:     "cluster role binding to a Role",
			resource: "clusterrolebindings",
			obj: &rbacv1.ClusterRoleBinding{
				RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: "r"},
				Subjects: []rbacv1.Subject{{Kind: "ServiceAccount", Name: "default"}},
			},
			want: []string{
				`roleRef.kind: Unsupported value: "Role": supported values: "ClusterRole"`,
				"subjects[0].namespace: Required value",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := resource(t, tt.resource)
			if r.Strategy.Default != nil {
				r.Strategy.Default(tt.obj)
			}
			got := errStrings(r.Strategy.Validate(tt.obj))
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("errors (-want +got):\n%s", diff)
			}
		})
	}
}

func TestRoleBindingDefaultsAndUpdate(t *testing.T) {
	r := resource(t, "rolebindings")
	b := &rbacv1.RoleBinding{
		RoleRef:  rbacv1.RoleRef{Kind: "ClusterRole", Name: "view"},
		Subjects: []rbacv1.Subject{{Kind: "User", Name: "alice"}, {Kind: "ServiceAccount", Name: "sa", Namespace: "ns"}},
	}
	r.Strategy.Default(b)
	if b.RoleRef.APIGroup != rbacv1.GroupName || b.Subjects[0].APIGroup != rbacv1.GroupName || b.Subjects[1].APIGroup != "" {
		t.Errorf("defaults not applied as upstream: %+v", b)
	}
	if errs := r.Strategy.Validate(b); len(errs) != 0 {
		t.Errorf("valid binding rejected: %v", errs)
	}
	changed := b.DeepCopy()
	changed.RoleRef.Name = "edit"
	got := errStrings(r.Strategy.ValidateUpdate(changed, b))
	if len(got) != 1 || got[0][:len("roleRef: Invalid value")] != "roleRef: Invalid value" {
		t.Errorf("roleRef change: got %v", got)
	}

	row := r.Strategy.TableRow(b)
	want := []interface{}{"ClusterRole/view", "<unknown>", "alice", "", "ns/sa"}
	if diff := cmp.Diff(want, row); diff != "" {
		t.Errorf("row (-want +got):\n%s", diff)
	}
	if len(row) != len(r.Strategy.TableColumns) {
		t.Errorf("row has %d cells for %d columns", len(row), len(r.Strategy.TableColumns))
	}
}

func TestRoleTable(t *testing.T) {
	r := resource(t, "roles")
	role := &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{CreationTimestamp: metav1.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)}}
	if diff := cmp.Diff([]interface{}{"2024-01-02T03:04:05Z"}, r.Strategy.TableRow(role)); diff != "" {
		t.Errorf("row (-want +got):\n%s", diff)
	}
}
