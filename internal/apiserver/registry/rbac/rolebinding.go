package rbac

import (
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"skiff/internal/apiserver/registry"
)

func roleBindingResource() registry.Resource {
	return registry.Resource{
		GroupVersion: groupVersion,
		Resource:     "rolebindings",
		SingularName: "rolebinding",
		Kind:         "RoleBinding",
		Namespaced:   true,
		New:          func() runtime.Object { return &rbacv1.RoleBinding{} },
		NewList:      func() runtime.Object { return &rbacv1.RoleBindingList{} },
		Strategy: registry.Strategy{
			Default: func(obj runtime.Object) {
				b := obj.(*rbacv1.RoleBinding)
				defaultRoleRef(&b.RoleRef)
				defaultSubjects(b.Subjects)
			},
			NameValidation: nameValidation,
			Validate: func(obj runtime.Object) field.ErrorList {
				b := obj.(*rbacv1.RoleBinding)
				errs := validateRoleRef(b.RoleRef, []string{"Role", "ClusterRole"}, field.NewPath("roleRef"))
				return append(errs, validateSubjects(b.Subjects, false, field.NewPath("subjects"))...)
			},
			ValidateUpdate: func(obj, old runtime.Object) field.ErrorList {
				return validateRoleRefUpdate(obj.(*rbacv1.RoleBinding).RoleRef, old.(*rbacv1.RoleBinding).RoleRef)
			},
			TableColumns: bindingColumns("roleBinding"),
			TableRow: func(obj runtime.Object) []interface{} {
				b := obj.(*rbacv1.RoleBinding)
				return bindingRow(obj, b.RoleRef, b.Subjects)
			},
		},
	}
}
