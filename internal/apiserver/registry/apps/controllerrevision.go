package apps

import (
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"skiff/internal/apiserver/registry"
)

func controllerRevisionResource() registry.Resource {
	return registry.Resource{
		GroupVersion: groupVersion,
		Resource:     "controllerrevisions",
		SingularName: "controllerrevision",
		Kind:         "ControllerRevision",
		Namespaced:   true,
		New:          func() runtime.Object { return &appsv1.ControllerRevision{} },
		NewList:      func() runtime.Object { return &appsv1.ControllerRevisionList{} },
		Strategy: registry.Strategy{
			Validate: func(obj runtime.Object) field.ErrorList {
				cr := obj.(*appsv1.ControllerRevision)
				var errs field.ErrorList
				if cr.Data.Raw == nil && cr.Data.Object == nil {
					errs = append(errs, field.Required(field.NewPath("data"), "data is mandatory"))
				}
				return append(errs, apivalidation.ValidateNonnegativeField(cr.Revision, field.NewPath("revision"))...)
			},
			ValidateUpdate: func(obj, old runtime.Object) field.ErrorList {
				return apivalidation.ValidateImmutableField(obj.(*appsv1.ControllerRevision).Data, old.(*appsv1.ControllerRevision).Data, field.NewPath("data"))
			},
			TableColumns: []metav1.TableColumnDefinition{
				registry.Column("Controller", "string", "Controller of the object", 0),
				registry.Column("Revision", "string", appsv1.ControllerRevision{}.SwaggerDoc()["revision"], 0),
				registry.Column("Age", "string", ageDescription, 0),
			},
			TableRow: func(obj runtime.Object) []interface{} {
				cr := obj.(*appsv1.ControllerRevision)
				controller := "<none>"
				if ref := metav1.GetControllerOf(cr); ref != nil {
					if gv, err := schema.ParseGroupVersion(ref.APIVersion); err == nil {
						gk := schema.GroupKind{Group: gv.Group, Kind: ref.Kind}
						controller = strings.ToLower(gk.String()) + "/" + ref.Name
					}
				}
				return []interface{}{controller, cr.Revision, registry.Age(obj)}
			},
		},
	}
}
