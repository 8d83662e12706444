package server

import (
	"context"
	"errors"
	"sync"

	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

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

// ensureRBACDefaults reconciles the default ClusterRoles, kube-system
// Roles and their bindings with the bootstrap policy, as upstream's API
// server does at every start: missing objects are created, and default
// ones not protected by autoupdate=false gain the rules, aggregation
// selectors and subjects they lack. A cluster whose admin, edit or view
// predates aggregation keeps their rules in the system:aggregate-to-*
// roles. The objects are independent, so they are written concurrently:
// a first start writes about a hundred of them.
func ensureRBACDefaults(ctx context.Context, api *apiserver.Server) error {
	if err := primeAggregatedRoles(ctx, api); err != nil {
		return err
	}
	var tasks []func() error
	gv := rbacv1.SchemeGroupVersion
	roles, bindings := auth.BootstrapPolicy()
	for _, r := range roles {
		tasks = append(tasks, func() error {
			return api.Reconcile(ctx, gv.WithResource("clusterroles"), "", r, func(cur runtime.Object) (runtime.Object, bool) {
				if existing, ok := cur.(*rbacv1.ClusterRole); ok {
					if next, changed := auth.ReconcileClusterRole(existing, r); changed {
						return next, false
					}
				}
				return nil, false
			})
		})
	}
	for _, b := range bindings {
		tasks = append(tasks, func() error {
			return api.Reconcile(ctx, gv.WithResource("clusterrolebindings"), "", b, func(cur runtime.Object) (runtime.Object, bool) {
				if existing, ok := cur.(*rbacv1.ClusterRoleBinding); ok {
					return bindingDecision(auth.ReconcileClusterRoleBinding(existing, b))
				}
				return nil, false
			})
		})
	}
	sysRoles, sysBindings := auth.SystemPolicy()
	for _, r := range sysRoles {
		tasks = append(tasks, func() error {
			return api.Reconcile(ctx, gv.WithResource("roles"), r.Namespace, r, func(cur runtime.Object) (runtime.Object, bool) {
				if existing, ok := cur.(*rbacv1.Role); ok {
					if next, changed := auth.ReconcileRole(existing, r); changed {
						return next, false
					}
				}
				return nil, false
			})
		})
	}
	for _, b := range sysBindings {
		tasks = append(tasks, func() error {
			return api.Reconcile(ctx, gv.WithResource("rolebindings"), b.Namespace, b, func(cur runtime.Object) (runtime.Object, bool) {
				if existing, ok := cur.(*rbacv1.RoleBinding); ok {
					return bindingDecision(auth.ReconcileRoleBinding(existing, b))
				}
				return nil, false
			})
		})
	}
	return runBounded(tasks, 16)
}

// runBounded runs tasks, at most limit at a time, and returns their errors.
func runBounded(tasks []func() error, limit int) error {
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
	)
	sem := make(chan struct{}, limit)
	for _, task := range tasks {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			if err := task(); err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

func bindingDecision[T runtime.Object](next T, what auth.BindingReconcile) (runtime.Object, bool) {
	switch what {
	case auth.BindingUpdate:
		return next, false
	case auth.BindingRecreate:
		return next, true
	}
	return nil, false
}

// primeAggregatedRoles copies the rules of an admin, edit or view role
// without an aggregation rule into its system:aggregate-to-* role, when
// that does not exist yet, as upstream does on upgrade.
func primeAggregatedRoles(ctx context.Context, api *apiserver.Server) error {
	crs := rbacv1.SchemeGroupVersion.WithResource("clusterroles")
	for old, agg := range auth.AggregatedRoleSources() {
		if _, ok := api.Object(rbacv1.GroupName, "v1", "clusterroles", "", agg); ok {
			continue
		}
		o, ok := api.Object(rbacv1.GroupName, "v1", "clusterroles", "", old)
		if !ok {
			continue
		}
		existing, ok := o.(*rbacv1.ClusterRole)
		if !ok || existing.AggregationRule != nil {
			continue
		}
		primed := &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: agg}, Rules: existing.Rules}
		if err := api.Ensure(ctx, crs, "", primed); err != nil {
			return err
		}
	}
	return nil
}
