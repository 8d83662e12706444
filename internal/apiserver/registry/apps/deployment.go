package apps

import (
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"skiff/internal/apiserver/registry"
	"skiff/internal/apiserver/registry/core"
)

func deploymentResource() registry.Resource {
	return registry.Resource{
		GroupVersion: groupVersion,
		Resource:     "deployments",
		SingularName: "deployment",
		Kind:         "Deployment",
		ShortNames:   []string{"deploy"},
		Categories:   []string{"all"},
		Namespaced:   true,
		Subresources: []string{"status", "scale"},
		New:          func() runtime.Object { return &appsv1.Deployment{} },
		NewList:      func() runtime.Object { return &appsv1.DeploymentList{} },
		Strategy: registry.Strategy{
			Default: func(obj runtime.Object) { defaultDeployment(obj.(*appsv1.Deployment)) },
			PrepareForCreate: func(obj runtime.Object) {
				obj.(*appsv1.Deployment).Status = appsv1.DeploymentStatus{}
			},
			PrepareForUpdate: func(obj, old runtime.Object) {
				d, o := obj.(*appsv1.Deployment), old.(*appsv1.Deployment)
				d.Status = o.Status
				// Annotations are copied to the ReplicaSets, so a change
				// to them is a change the controller must act on, as a
				// spec change is.
				if !apiequality.Semantic.DeepEqual(d.Annotations, o.Annotations) || !apiequality.Semantic.DeepEqual(d.Spec, o.Spec) {
					d.Generation = o.Generation + 1
				}
			},
			Validate: func(obj runtime.Object) field.ErrorList {
				return validateDeploymentSpec(&obj.(*appsv1.Deployment).Spec, field.NewPath("spec"))
			},
			ValidateUpdate: func(obj, old runtime.Object) field.ErrorList {
				return apivalidation.ValidateImmutableField(obj.(*appsv1.Deployment).Spec.Selector, old.(*appsv1.Deployment).Spec.Selector, field.NewPath("spec", "selector"))
			},
			SubresourceUpdates: map[string]registry.SubresourceUpdate{
				"status": registry.StatusUpdate(registry.Status{
					Validate: func(obj, old runtime.Object) field.ErrorList {
						s := obj.(*appsv1.Deployment).Status
						return statusNonNegative(field.NewPath("status"), map[string]int32{
							"replicas": s.Replicas, "updatedReplicas": s.UpdatedReplicas, "readyReplicas": s.ReadyReplicas,
							"availableReplicas": s.AvailableReplicas, "unavailableReplicas": s.UnavailableReplicas,
						})
					},
					KeepLabels: true,
				}),
			},
			TrackGeneration: true,
			TableColumns: []metav1.TableColumnDefinition{
				registry.Column("Ready", "string", "Number of the pod with ready state", 0),
				registry.Column("Up-to-date", "string", appsv1.DeploymentStatus{}.SwaggerDoc()["updatedReplicas"], 0),
				registry.Column("Available", "string", appsv1.DeploymentStatus{}.SwaggerDoc()["availableReplicas"], 0),
				registry.Column("Age", "string", ageDescription, 0),
				registry.Column("Containers", "string", containersDescription, 1),
				registry.Column("Images", "string", imagesDescription, 1),
				registry.Column("Selector", "string", appsv1.DeploymentSpec{}.SwaggerDoc()["selector"], 1),
			},
			TableRow: func(obj runtime.Object) []interface{} {
				d := obj.(*appsv1.Deployment)
				names, images := containerCells(&d.Spec.Template)
				return []interface{}{
					readyOf(d.Status.ReadyReplicas, d.Spec.Replicas),
					int64(d.Status.UpdatedReplicas),
					int64(d.Status.AvailableReplicas),
					registry.Age(obj),
					names, images, selectorString(d.Spec.Selector),
				}
			},
			Scale: &registry.ScaleAccess{
				Get: func(obj runtime.Object) *autoscalingv1.Scale {
					d := obj.(*appsv1.Deployment)
					return newScale(d.ObjectMeta, replicas(d.Spec.Replicas), d.Status.Replicas, d.Spec.Selector)
				},
				SetReplicas: func(obj runtime.Object, n int32) { obj.(*appsv1.Deployment).Spec.Replicas = &n },
			},
		},
	}
}

// defaultDeployment is upstream's SetDefaults_Deployment.
func defaultDeployment(d *appsv1.Deployment) {
	if d.Spec.Replicas == nil {
		d.Spec.Replicas = int32Ptr(1)
	}
	s := &d.Spec.Strategy
	if s.Type == "" {
		s.Type = appsv1.RollingUpdateDeploymentStrategyType
	}
	if s.Type == appsv1.RollingUpdateDeploymentStrategyType {
		if s.RollingUpdate == nil {
			s.RollingUpdate = &appsv1.RollingUpdateDeployment{}
		}
		if s.RollingUpdate.MaxUnavailable == nil {
			v := intstr.FromString("25%")
			s.RollingUpdate.MaxUnavailable = &v
		}
		if s.RollingUpdate.MaxSurge == nil {
			v := intstr.FromString("25%")
			s.RollingUpdate.MaxSurge = &v
		}
	}
	if d.Spec.RevisionHistoryLimit == nil {
		d.Spec.RevisionHistoryLimit = int32Ptr(defaultRevisionHistoryLimit)
	}
	if d.Spec.ProgressDeadlineSeconds == nil {
		d.Spec.ProgressDeadlineSeconds = int32Ptr(defaultProgressDeadlineSeconds)
	}
	core.DefaultPodTemplateSpec(&d.Spec.Template)
}

func validateDeploymentSpec(spec *appsv1.DeploymentSpec, fldPath *field.Path) field.ErrorList {
	errs := nonNegative(spec.Replicas, fldPath.Child("replicas"))
	selector, selErrs := validateSelector(spec.Selector, "deployment", fldPath.Child("selector"))
	errs = append(errs, selErrs...)
	errs = append(errs, validateTemplate(&spec.Template, selector, "ReplicaSet", fldPath.Child("template"))...)
	errs = append(errs, validateDeploymentStrategy(&spec.Strategy, fldPath.Child("strategy"))...)
	errs = append(errs, apivalidation.ValidateNonnegativeField(int64(spec.MinReadySeconds), fldPath.Child("minReadySeconds"))...)
	errs = append(errs, nonNegative(spec.RevisionHistoryLimit, fldPath.Child("revisionHistoryLimit"))...)
	if spec.ProgressDeadlineSeconds != nil {
		errs = append(errs, nonNegative(spec.ProgressDeadlineSeconds, fldPath.Child("progressDeadlineSeconds"))...)
		if *spec.ProgressDeadlineSeconds <= spec.MinReadySeconds {
			errs = append(errs, field.Invalid(fldPath.Child("progressDeadlineSeconds"), *spec.ProgressDeadlineSeconds, "must be greater than minReadySeconds"))
		}
	}
	return errs
}

func validateDeploymentStrategy(s *appsv1.DeploymentStrategy, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	switch s.Type {
	case appsv1.RecreateDeploymentStrategyType:
		if s.RollingUpdate != nil {
			errs = append(errs, field.Forbidden(fldPath.Child("rollingUpdate"), "may not be specified when strategy `type` is 'Recreate'"))
		}
	case appsv1.RollingUpdateDeploymentStrategyType:
		if s.RollingUpdate == nil {
			return append(errs, field.Required(fldPath.Child("rollingUpdate"), "this should be defaulted and never be nil"))
		}
		p := fldPath.Child("rollingUpdate")
		errs = append(errs, validateIntOrPercent(s.RollingUpdate.MaxUnavailable, p.Child("maxUnavailable"))...)
		errs = append(errs, validateIntOrPercent(s.RollingUpdate.MaxSurge, p.Child("maxSurge"))...)
		if intOrPercentValue(s.RollingUpdate.MaxUnavailable) == 0 && intOrPercentValue(s.RollingUpdate.MaxSurge) == 0 {
			errs = append(errs, field.Invalid(p.Child("maxUnavailable"), intOrStringValue(s.RollingUpdate.MaxUnavailable), "may not be 0 when `maxSurge` is 0"))
		}
	default:
		errs = append(errs, field.NotSupported(fldPath.Child("type"), s.Type, []appsv1.DeploymentStrategyType{appsv1.RecreateDeploymentStrategyType, appsv1.RollingUpdateDeploymentStrategyType}))
	}
	return errs
}
