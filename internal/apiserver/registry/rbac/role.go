package rbac

import (
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"skiff/internal/apiserver/registry"
)

func roleResource() registry.Resource {
	return registry.Resource{
		GroupVersion: groupVersion,
		Resource:     "roles",
		SingularName: "role",
		Kind:         "Role",
		Namespaced:   true,
		New:          func() runtime.Object { return &rbacv1.Role{} },
		NewList:      func() runtime.Object { return &rbacv1.RoleList{} },
		Strategy: registry.Strategy{
			NameValidation: nameValidation,
			Validate: func(obj runtime.Object) field.ErrorList {
				return validateRules(obj.(*rbacv1.Role).Rules, true, field.NewPath("rules"))
			},
			TableColumns: createdAtColumns(),
			TableRow:     createdAtRow,
		},
	}
}
