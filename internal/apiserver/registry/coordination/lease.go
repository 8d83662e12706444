package coordination

import (
	coordinationv1 "k8s.io/api/coordination/v1"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"skiff/internal/apiserver/registry"
)

// Resources returns the coordination.k8s.io/v1 resources.
func Resources() []registry.Resource {
	return []registry.Resource{leaseResource()}
}

func leaseResource() registry.Resource {
	return registry.Resource{
		GroupVersion: coordinationv1.SchemeGroupVersion,
		Resource:     "leases",
		SingularName: "lease",
		Kind:         "Lease",
		Namespaced:   true,
		New:          func() runtime.Object { return &coordinationv1.Lease{} },
		NewList:      func() runtime.Object { return &coordinationv1.LeaseList{} },
		Strategy: registry.Strategy{
			Validate: validateLease,
			TableColumns: []metav1.TableColumnDefinition{
				registry.Column("Holder", "string", coordinationv1.LeaseSpec{}.SwaggerDoc()["holderIdentity"], 0),
				registry.Column("Age", "string", metav1.ObjectMeta{}.SwaggerDoc()["creationTimestamp"], 0),
			},
			TableRow: func(obj runtime.Object) []interface{} {
				l := obj.(*coordinationv1.Lease)
				holder := ""
				if l.Spec.HolderIdentity != nil {
					holder = *l.Spec.HolderIdentity
				}
				return []interface{}{holder, registry.Age(obj)}
			},
		},
	}
}

func validateLease(obj runtime.Object) field.ErrorList {
	spec := obj.(*coordinationv1.Lease).Spec
	p := field.NewPath("spec")
	var errs field.ErrorList
	if spec.LeaseDurationSeconds != nil && *spec.LeaseDurationSeconds <= 0 {
		errs = append(errs, field.Invalid(p.Child("leaseDurationSeconds"), *spec.LeaseDurationSeconds, "must be greater than 0"))
	}
	if spec.LeaseTransitions != nil {
		errs = append(errs, apivalidation.ValidateNonnegativeField(int64(*spec.LeaseTransitions), p.Child("leaseTransitions"))...)
	}
	if spec.Strategy != nil && *spec.Strategy != coordinationv1.OldestEmulationVersion {
		errs = append(errs, field.NotSupported(p.Child("strategy"), *spec.Strategy, []string{string(coordinationv1.OldestEmulationVersion)}))
	}
	return errs
}
