package rbac

import (
	rbacv1 "k8s.io/api/rbac/v1"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"skiff/internal/apiserver/registry"
)

func clusterRoleResource() registry.Resource {
	return registry.Resource{
		GroupVersion: groupVersion,
		Resource:     "clusterroles",
		SingularName: "clusterrole",
		Kind:         "ClusterRole",
		New:          func() runtime.Object { return &rbacv1.ClusterRole{} },
		NewList:      func() runtime.Object { return &rbacv1.ClusterRoleList{} },
		Strategy: registry.Strategy{
			NameValidation: nameValidation,
			Validate:       validateClusterRole,
			TableColumns:   createdAtColumns(),
			TableRow:       createdAtRow,
		},
	}
}

func validateClusterRole(obj runtime.Object) field.ErrorList {
	role := obj.(*rbacv1.ClusterRole)
	errs := validateRules(role.Rules, false, field.NewPath("rules"))
	if role.AggregationRule != nil {
		p := field.NewPath("aggregationRule", "clusterRoleSelectors")
		if len(role.AggregationRule.ClusterRoleSelectors) == 0 {
			errs = append(errs, field.Required(p, "at least one clusterRoleSelector required if aggregationRule is non-nil"))
		}
		for i := range role.AggregationRule.ClusterRoleSelectors {
			errs = append(errs, metav1validation.ValidateLabelSelector(&role.AggregationRule.ClusterRoleSelectors[i], metav1validation.LabelSelectorValidationOptions{}, p.Index(i))...)
		}
	}
	return errs
}
