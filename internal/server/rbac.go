package server

import (
	"context"

	rbacv1 "k8s.io/api/rbac/v1"

	"skiff/internal/apiserver"
	"skiff/internal/apiserver/auth"
)

// rbacSource reads RBAC objects from the API server's watch cache.
type rbacSource struct{ api *apiserver.Server }

var _ auth.RBACSource = rbacSource{}

func (r rbacSource) ClusterRole(name string) (*rbacv1.ClusterRole, bool) {
	o, ok := r.api.Object(rbacv1.GroupName, "v1", "clusterroles", "", name)
	if !ok {
		return nil, false
	}
	cr, ok := o.(*rbacv1.ClusterRole)
	return cr, ok
}

func (r rbacSource) Role(namespace, name string) (*rbacv1.Role, bool) {
	o, ok := r.api.Object(rbacv1.GroupName, "v1", "roles", namespace, name)
	if !ok {
		return nil, false
	}
	role, ok := o.(*rbacv1.Role)
	return role, ok
}

func (r rbacSource) ClusterRoleBindings() []*rbacv1.ClusterRoleBinding {
	var out []*rbacv1.ClusterRoleBinding
	for _, o := range r.api.Objects(rbacv1.GroupName, "v1", "clusterrolebindings", "") {
		if b, ok := o.(*rbacv1.ClusterRoleBinding); ok {
			out = append(out, b)
		}
	}
	return out
}

func (r rbacSource) RoleBindings(namespace string) []*rbacv1.RoleBinding {
	var out []*rbacv1.RoleBinding
	for _, o := range r.api.Objects(rbacv1.GroupName, "v1", "rolebindings", namespace) {
		if b, ok := o.(*rbacv1.RoleBinding); ok {
			out = append(out, b)
		}
	}
	return out
}

// stale reports whether the stored binding of a default that binds no one
// (system:node, since nodes act through the Node authorizer) still has
// the subjects an older skiff gave it, and may be updated: its
// autoupdate annotation is still "true".
func stale(src rbacSource, b *rbacv1.ClusterRoleBinding) bool {
	if len(b.Subjects) > 0 {
		return false
	}
	for _, cur := range src.ClusterRoleBindings() {
		if cur.Name == b.Name {
			return len(cur.Subjects) > 0 && cur.Annotations["rbac.authorization.kubernetes.io/autoupdate"] == "true"
		}
	}
	return false
}

// ensureRBACDefaults creates the default ClusterRoles and bindings.
func ensureRBACDefaults(ctx context.Context, api *apiserver.Server) error {
	roles, bindings := auth.BootstrapPolicy()
	for _, r := range roles {
		if err := api.Ensure(ctx, rbacv1.SchemeGroupVersion.WithResource("clusterroles"), "", r); err != nil {
			return err
		}
	}
	crbs := rbacv1.SchemeGroupVersion.WithResource("clusterrolebindings")
	for _, b := range bindings {
		if err := api.Ensure(ctx, crbs, "", b); err != nil {
			return err
		}
		if stale(rbacSource{api}, b) {
			if err := api.EnsureUpdated(ctx, crbs, "", b); err != nil {
				return err
			}
		}
	}
	reader := auth.ExtensionAuthenticationReader()
	return api.Ensure(ctx, rbacv1.SchemeGroupVersion.WithResource("roles"), reader.Namespace, reader)
}
