package networking

import (
	networkingv1 "k8s.io/api/networking/v1"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"skiff/internal/apiserver/registry"
)

// IsDefaultIngressClassAnnotation marks the class used by ingresses that
// name none.
const IsDefaultIngressClassAnnotation = "ingressclass.kubernetes.io/is-default-class"

func ingressClassResource() registry.Resource {
	return registry.Resource{
		GroupVersion: groupVersion,
		Resource:     "ingressclasses",
		SingularName: "ingressclass",
		Kind:         "IngressClass",
		New:          func() runtime.Object { return &networkingv1.IngressClass{} },
		NewList:      func() runtime.Object { return &networkingv1.IngressClassList{} },
		Strategy: registry.Strategy{
			Default: func(obj runtime.Object) {
				ic := obj.(*networkingv1.IngressClass)
				if ic.Spec.Parameters != nil && ic.Spec.Parameters.Scope == nil {
					s := networkingv1.IngressClassParametersReferenceScopeCluster
					ic.Spec.Parameters.Scope = &s
				}
			},
			Validate: validateIngressClass,
			ValidateUpdate: func(obj, old runtime.Object) field.ErrorList {
				return apivalidation.ValidateImmutableField(obj.(*networkingv1.IngressClass).Spec.Controller, old.(*networkingv1.IngressClass).Spec.Controller, field.NewPath("spec", "controller"))
			},
			TrackGeneration: true,
			TableColumns: []metav1.TableColumnDefinition{
				registry.Column("Controller", "string", "Controller that is responsible for handling this class", 0),
				registry.Column("Parameters", "string", "A reference to a resource with additional parameters", 0),
				ageColumn(),
			},
			TableRow: func(obj runtime.Object) []interface{} {
				ic := obj.(*networkingv1.IngressClass)
				params := "<none>"
				if p := ic.Spec.Parameters; p != nil {
					params = p.Kind
					if p.APIGroup != nil {
						params += "." + *p.APIGroup
					}
					params += "/" + p.Name
				}
				return []interface{}{ic.Spec.Controller, params, registry.Age(obj)}
			},
		},
	}
}

func validateIngressClass(obj runtime.Object) field.ErrorList {
	ic := obj.(*networkingv1.IngressClass)
	p := field.NewPath("spec")
	var errs field.ErrorList
	if ic.Spec.Controller == "" {
		errs = append(errs, field.Required(p.Child("controller"), ""))
	} else if len(ic.Spec.Controller) > 250 {
		errs = append(errs, field.TooLong(p.Child("controller"), "", 250))
	} else {
		for _, msg := range validation.IsDomainPrefixedPath(p.Child("controller"), ic.Spec.Controller) {
			errs = append(errs, msg)
		}
	}
	if params := ic.Spec.Parameters; params != nil {
		pp := p.Child("parameters")
		if params.Kind == "" {
			errs = append(errs, field.Required(pp.Child("kind"), ""))
		}
		if params.Name == "" {
			errs = append(errs, field.Required(pp.Child("name"), ""))
		}
		if params.Scope != nil {
			switch *params.Scope {
			case networkingv1.IngressClassParametersReferenceScopeCluster:
				if params.Namespace != nil {
					errs = append(errs, field.Forbidden(pp.Child("namespace"), "`parameters.scope` is set to 'Cluster'"))
				}
			case networkingv1.IngressClassParametersReferenceScopeNamespace:
				if params.Namespace == nil {
					errs = append(errs, field.Required(pp.Child("namespace"), "`parameters.scope` is set to 'Namespace'"))
				}
			default:
				errs = append(errs, field.NotSupported(pp.Child("scope"), *params.Scope, []string{networkingv1.IngressClassParametersReferenceScopeCluster, networkingv1.IngressClassParametersReferenceScopeNamespace}))
			}
		}
	}
	return errs
}
