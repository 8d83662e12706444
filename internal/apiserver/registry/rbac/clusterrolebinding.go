package rbac

import (
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"skiff/internal/apiserver/registry"
)

func clusterRoleBindingResource() registry.Resource {
	return registry.Resource{
		GroupVersion: groupVersion,
		Resource:     "clusterrolebindings",
		SingularName: "clusterrolebinding",
		Kind:         "ClusterRoleBinding",
		New:          func() runtime.Object { return &rbacv1.ClusterRoleBinding{} },
		NewList:      func() runtime.Object { return &rbacv1.ClusterRoleBindingList{} },
		Strategy: registry.Strategy{
			Default: func(obj runtime.Object) {
				b := obj.(*rbacv1.ClusterRoleBinding)
				defaultRoleRef(&b.RoleRef)
				defaultSubjects(b.Subjects)
			},
			NameValidation: nameValidation,
			Validate: func(obj runtime.Object) field.ErrorList {
				b := obj.(*rbacv1.ClusterRoleBinding)
				errs := validateRoleRef(b.RoleRef, []string{"ClusterRole"}, field.NewPath("roleRef"))
				return append(errs, validateSubjects(b.Subjects, true, field.NewPath("subjects"))...)
			},
			ValidateUpdate: func(obj, old runtime.Object) field.ErrorList {
				return validateRoleRefUpdate(obj.(*rbacv1.ClusterRoleBinding).RoleRef, old.(*rbacv1.ClusterRoleBinding).RoleRef)
			},
			TableColumns: bindingColumns("clusterRoleBinding"),
			TableRow: func(obj runtime.Object) []interface{} {
				b := obj.(*rbacv1.ClusterRoleBinding)
				return bindingRow(obj, b.RoleRef, b.Subjects)
			},
		},
	}
}
