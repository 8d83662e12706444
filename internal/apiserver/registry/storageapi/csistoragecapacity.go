package storageapi

import (
	storagev1 "k8s.io/api/storage/v1"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"skiff/internal/apiserver/registry"
)

func csiStorageCapacityResource() registry.Resource {
	return registry.Resource{
		GroupVersion: groupVersion,
		Resource:     "csistoragecapacities",
		SingularName: "csistoragecapacity",
		Kind:         "CSIStorageCapacity",
		Namespaced:   true,
		New:          func() runtime.Object { return &storagev1.CSIStorageCapacity{} },
		NewList:      func() runtime.Object { return &storagev1.CSIStorageCapacityList{} },
		Strategy: registry.Strategy{
			Validate: func(obj runtime.Object) field.ErrorList {
				c := obj.(*storagev1.CSIStorageCapacity)
				var errs field.ErrorList
				p := field.NewPath("storageClassName")
				if c.StorageClassName == "" {
					errs = append(errs, field.Required(p, ""))
				}
				for _, msg := range apivalidation.NameIsDNSSubdomain(c.StorageClassName, false) {
					if c.StorageClassName != "" {
						errs = append(errs, field.Invalid(p, c.StorageClassName, msg))
					}
				}
				errs = append(errs, metav1validation.ValidateLabelSelector(c.NodeTopology, metav1validation.LabelSelectorValidationOptions{}, field.NewPath("nodeTopology"))...)
				if c.Capacity != nil && c.Capacity.Sign() < 0 {
					errs = append(errs, field.Invalid(field.NewPath("capacity"), c.Capacity.String(), "must be greater than or equal to 0"))
				}
				return errs
			},
			ValidateUpdate: func(obj, old runtime.Object) field.ErrorList {
				c, o := obj.(*storagev1.CSIStorageCapacity), old.(*storagev1.CSIStorageCapacity)
				errs := apivalidation.ValidateImmutableField(c.StorageClassName, o.StorageClassName, field.NewPath("storageClassName"))
				return append(errs, apivalidation.ValidateImmutableField(c.NodeTopology, o.NodeTopology, field.NewPath("nodeTopology"))...)
			},
			TableColumns: []metav1.TableColumnDefinition{
				registry.Column("StorageClassName", "string", storagev1.CSIStorageCapacity{}.SwaggerDoc()["storageClassName"], 0),
				registry.Column("Capacity", "string", storagev1.CSIStorageCapacity{}.SwaggerDoc()["capacity"], 0),
			},
			TableRow: func(obj runtime.Object) []interface{} {
				c := obj.(*storagev1.CSIStorageCapacity)
				capacity := "<unset>"
				if c.Capacity != nil {
					capacity = c.Capacity.String()
				}
				return []interface{}{c.StorageClassName, capacity}
			},
		},
	}
}
