package apps

import (
	"strconv"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"skiff/internal/apiserver/registry"
	"skiff/internal/apiserver/registry/core"
)

func replicaSetResource() registry.Resource {
	return registry.Resource{
		GroupVersion: groupVersion,
		Resource:     "replicasets",
		SingularName: "replicaset",
		Kind:         "ReplicaSet",
		ShortNames:   []string{"rs"},
		Categories:   []string{"all"},
		Namespaced:   true,
		Subresources: []string{"status", "scale"},
		New:          func() runtime.Object { return &appsv1.ReplicaSet{} },
		NewList:      func() runtime.Object { return &appsv1.ReplicaSetList{} },
		Strategy: registry.Strategy{
			Default: func(obj runtime.Object) {
				rs := obj.(*appsv1.ReplicaSet)
				if rs.Spec.Replicas == nil {
					rs.Spec.Replicas = int32Ptr(1)
				}
				core.DefaultPodTemplateSpec(&rs.Spec.Template)
			},
			PrepareForCreate: func(obj runtime.Object) {
				obj.(*appsv1.ReplicaSet).Status = appsv1.ReplicaSetStatus{}
			},
			PrepareForUpdate: func(obj, old runtime.Object) {
				obj.(*appsv1.ReplicaSet).Status = old.(*appsv1.ReplicaSet).Status
			},
			Validate: func(obj runtime.Object) field.ErrorList {
				spec := &obj.(*appsv1.ReplicaSet).Spec
				p := field.NewPath("spec")
				errs := nonNegative(spec.Replicas, p.Child("replicas"))
				errs = append(errs, apivalidation.ValidateNonnegativeField(int64(spec.MinReadySeconds), p.Child("minReadySeconds"))...)
				selector, selErrs := validateSelector(spec.Selector, "deployment", p.Child("selector"))
				errs = append(errs, selErrs...)
				return append(errs, validateTemplate(&spec.Template, selector, "ReplicaSet", p.Child("template"))...)
			},
			ValidateUpdate: func(obj, old runtime.Object) field.ErrorList {
				return apivalidation.ValidateImmutableField(obj.(*appsv1.ReplicaSet).Spec.Selector, old.(*appsv1.ReplicaSet).Spec.Selector, field.NewPath("spec", "selector"))
			},
			SubresourceUpdates: map[string]registry.SubresourceUpdate{
				"status": registry.StatusUpdate(registry.Status{
					Validate: func(obj, old runtime.Object) field.ErrorList {
						s := obj.(*appsv1.ReplicaSet).Status
						p := field.NewPath("status")
						errs := statusNonNegative(p, map[string]int32{
							"replicas": s.Replicas, "fullyLabeledReplicas": s.FullyLabeledReplicas,
							"readyReplicas": s.ReadyReplicas, "availableReplicas": s.AvailableReplicas,
						})
						if s.ReadyReplicas > s.Replicas {
							errs = append(errs, field.Invalid(p.Child("readyReplicas"), s.ReadyReplicas, "cannot be greater than status.replicas"))
						}
						if s.AvailableReplicas > s.ReadyReplicas {
							errs = append(errs, field.Invalid(p.Child("availableReplicas"), s.AvailableReplicas, "cannot be greater than readyReplicas"))
						}
						return errs
					},
				}),
			},
			TrackGeneration: true,
			TableColumns: []metav1.TableColumnDefinition{
				registry.Column("Desired", "integer", appsv1.ReplicaSetSpec{}.SwaggerDoc()["replicas"], 0),
				registry.Column("Current", "integer", appsv1.ReplicaSetStatus{}.SwaggerDoc()["replicas"], 0),
				registry.Column("Ready", "integer", appsv1.ReplicaSetStatus{}.SwaggerDoc()["readyReplicas"], 0),
				registry.Column("Age", "string", ageDescription, 0),
				registry.Column("Containers", "string", containersDescription, 1),
				registry.Column("Images", "string", imagesDescription, 1),
				registry.Column("Selector", "string", appsv1.ReplicaSetSpec{}.SwaggerDoc()["selector"], 1),
			},
			TableRow: func(obj runtime.Object) []interface{} {
				rs := obj.(*appsv1.ReplicaSet)
				names, images := containerCells(&rs.Spec.Template)
				return []interface{}{
					int64(replicas(rs.Spec.Replicas)), int64(rs.Status.Replicas), int64(rs.Status.ReadyReplicas),
					registry.Age(obj), names, images, metav1.FormatLabelSelector(rs.Spec.Selector),
				}
			},
			Fields: func(obj runtime.Object) fields.Set {
				return fields.Set{"status.replicas": strconv.Itoa(int(obj.(*appsv1.ReplicaSet).Status.Replicas))}
			},
			Scale: &registry.ScaleAccess{
				Get: func(obj runtime.Object) *autoscalingv1.Scale {
					rs := obj.(*appsv1.ReplicaSet)
					return newScale(rs.ObjectMeta, replicas(rs.Spec.Replicas), rs.Status.Replicas, rs.Spec.Selector)
				},
				SetReplicas: func(obj runtime.Object, n int32) { obj.(*appsv1.ReplicaSet).Spec.Replicas = &n },
			},
		},
	}
}
