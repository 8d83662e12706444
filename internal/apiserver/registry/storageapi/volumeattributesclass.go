package storageapi

import (
	storagev1 "k8s.io/api/storage/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"skiff/internal/apiserver/registry"
)

func volumeAttributesClassResource() registry.Resource {
	return registry.Resource{
		GroupVersion: groupVersion,
		Resource:     "volumeattributesclasses",
		SingularName: "volumeattributesclass",
		Kind:         "VolumeAttributesClass",
		ShortNames:   []string{"vac"},
		New:          func() runtime.Object { return &storagev1.VolumeAttributesClass{} },
		NewList:      func() runtime.Object { return &storagev1.VolumeAttributesClassList{} },
		Strategy: registry.Strategy{
			Validate: func(obj runtime.Object) field.ErrorList {
				c := obj.(*storagev1.VolumeAttributesClass)
				errs := validateDriverName(c.DriverName, field.NewPath("driverName"))
				if len(c.Parameters) > 512 {
					errs = append(errs, field.TooMany(field.NewPath("parameters"), len(c.Parameters), 512))
				}
				for k := range c.Parameters {
					if k == "" {
						errs = append(errs, field.Invalid(field.NewPath("parameters"), c.Parameters, "invalid empty parameter name"))
					}
				}
				return errs
			},
			ValidateUpdate: func(obj, old runtime.Object) field.ErrorList {
				c, o := obj.(*storagev1.VolumeAttributesClass), old.(*storagev1.VolumeAttributesClass)
				errs := apivalidation.ValidateImmutableField(c.DriverName, o.DriverName, field.NewPath("driverName"))
				if !equality.Semantic.DeepEqual(c.Parameters, o.Parameters) {
					errs = append(errs, field.Forbidden(field.NewPath("parameters"), "updates to parameters are forbidden."))
				}
				return errs
			},
			TableIncludesName: true,
			TableColumns: []metav1.TableColumnDefinition{
				{Name: "Name", Type: "string", Format: "name", Description: metav1.ObjectMeta{}.SwaggerDoc()["name"]},
				registry.Column("DriverName", "string", storagev1.VolumeAttributesClass{}.SwaggerDoc()["driverName"], 0),
				ageColumn(),
			},
			TableRow: func(obj runtime.Object) []interface{} {
				c := obj.(*storagev1.VolumeAttributesClass)
				name := c.Name
				if c.Annotations[IsDefaultVolumeAttributesClass] == "true" {
					name += " (default)"
				}
				return []interface{}{name, c.DriverName, registry.Age(obj)}
			},
		},
	}
}
