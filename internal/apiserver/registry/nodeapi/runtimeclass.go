package nodeapi

import (
	nodev1 "k8s.io/api/node/v1"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"skiff/internal/apiserver/registry"
)

// Resources returns the node.k8s.io/v1 resources.
func Resources() []registry.Resource {
	return []registry.Resource{runtimeClassResource()}
}

func runtimeClassResource() registry.Resource {
	return registry.Resource{
		GroupVersion: nodev1.SchemeGroupVersion,
		Resource:     "runtimeclasses",
		SingularName: "runtimeclass",
		Kind:         "RuntimeClass",
		New:          func() runtime.Object { return &nodev1.RuntimeClass{} },
		NewList:      func() runtime.Object { return &nodev1.RuntimeClassList{} },
		Strategy: registry.Strategy{
			Validate: validateRuntimeClass,
			ValidateUpdate: func(obj, old runtime.Object) field.ErrorList {
				return apivalidation.ValidateImmutableField(obj.(*nodev1.RuntimeClass).Handler, old.(*nodev1.RuntimeClass).Handler, field.NewPath("handler"))
			},
			TableColumns: []metav1.TableColumnDefinition{
				registry.Column("Handler", "string", nodev1.RuntimeClass{}.SwaggerDoc()["handler"], 0),
				registry.Column("Age", "string", metav1.ObjectMeta{}.SwaggerDoc()["creationTimestamp"], 0),
			},
			TableRow: func(obj runtime.Object) []interface{} {
				return []interface{}{obj.(*nodev1.RuntimeClass).Handler, registry.Age(obj)}
			},
		},
	}
}

func validateRuntimeClass(obj runtime.Object) field.ErrorList {
	rc := obj.(*nodev1.RuntimeClass)
	var errs field.ErrorList
	for _, msg := range apivalidation.NameIsDNSLabel(rc.Handler, false) {
		errs = append(errs, field.Invalid(field.NewPath("handler"), rc.Handler, msg))
	}
	if rc.Overhead != nil {
		for name, q := range rc.Overhead.PodFixed {
			if q.Sign() < 0 {
				errs = append(errs, field.Invalid(field.NewPath("overhead", "podFixed").Key(string(name)), q.String(), "must be greater than or equal to 0"))
			}
		}
	}
	if rc.Scheduling != nil {
		errs = append(errs, metav1validation.ValidateLabels(rc.Scheduling.NodeSelector, field.NewPath("scheduling", "nodeSelector"))...)
	}
	return errs
}
