package apps

import (
	appsv1 "k8s.io/api/apps/v1"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"skiff/internal/apiserver/registry"
	"skiff/internal/apiserver/registry/core"
)

func daemonSetResource() registry.Resource {
	return registry.Resource{
		GroupVersion: groupVersion,
		Resource:     "daemonsets",
		SingularName: "daemonset",
		Kind:         "DaemonSet",
		ShortNames:   []string{"ds"},
		Categories:   []string{"all"},
		Namespaced:   true,
		Subresources: []string{"status"},
		New:          func() runtime.Object { return &appsv1.DaemonSet{} },
		NewList:      func() runtime.Object { return &appsv1.DaemonSetList{} },
		Strategy: registry.Strategy{
			Default: func(obj runtime.Object) { defaultDaemonSet(obj.(*appsv1.DaemonSet)) },
			PrepareForCreate: func(obj runtime.Object) {
				obj.(*appsv1.DaemonSet).Status = appsv1.DaemonSetStatus{}
			},
			PrepareForUpdate: func(obj, old runtime.Object) {
				obj.(*appsv1.DaemonSet).Status = old.(*appsv1.DaemonSet).Status
			},
			Validate: func(obj runtime.Object) field.ErrorList {
				return validateDaemonSetSpec(&obj.(*appsv1.DaemonSet).Spec, field.NewPath("spec"))
			},
			ValidateUpdate: func(obj, old runtime.Object) field.ErrorList {
				return apivalidation.ValidateImmutableField(obj.(*appsv1.DaemonSet).Spec.Selector, old.(*appsv1.DaemonSet).Spec.Selector, field.NewPath("spec", "selector"))
			},
			SubresourceUpdates: map[string]registry.SubresourceUpdate{
				"status": registry.StatusUpdate(registry.Status{
					Validate: func(obj, old runtime.Object) field.ErrorList {
						s := obj.(*appsv1.DaemonSet).Status
						return statusNonNegative(field.NewPath("status"), map[string]int32{
							"currentNumberScheduled": s.CurrentNumberScheduled, "numberMisscheduled": s.NumberMisscheduled,
							"desiredNumberScheduled": s.DesiredNumberScheduled, "numberReady": s.NumberReady,
							"updatedNumberScheduled": s.UpdatedNumberScheduled, "numberAvailable": s.NumberAvailable,
							"numberUnavailable": s.NumberUnavailable,
						})
					},
				}),
			},
			TrackGeneration: true,
			TableColumns: []metav1.TableColumnDefinition{
				registry.Column("Desired", "integer", appsv1.DaemonSetStatus{}.SwaggerDoc()["desiredNumberScheduled"], 0),
				registry.Column("Current", "integer", appsv1.DaemonSetStatus{}.SwaggerDoc()["currentNumberScheduled"], 0),
				registry.Column("Ready", "integer", appsv1.DaemonSetStatus{}.SwaggerDoc()["numberReady"], 0),
				registry.Column("Up-to-date", "integer", appsv1.DaemonSetStatus{}.SwaggerDoc()["updatedNumberScheduled"], 0),
				registry.Column("Available", "integer", appsv1.DaemonSetStatus{}.SwaggerDoc()["numberAvailable"], 0),
				registry.Column("Node Selector", "string", "NodeSelector is a selector which must be true for the pod to fit on a node.", 0),
				registry.Column("Age", "string", ageDescription, 0),
				registry.Column("Containers", "string", containersDescription, 1),
				registry.Column("Images", "string", imagesDescription, 1),
				registry.Column("Selector", "string", appsv1.DaemonSetSpec{}.SwaggerDoc()["selector"], 1),
			},
			TableRow: func(obj runtime.Object) []interface{} {
				ds := obj.(*appsv1.DaemonSet)
				names, images := containerCells(&ds.Spec.Template)
				st := ds.Status
				return []interface{}{
					int64(st.DesiredNumberScheduled), int64(st.CurrentNumberScheduled), int64(st.NumberReady),
					int64(st.UpdatedNumberScheduled), int64(st.NumberAvailable),
					labels.FormatLabels(ds.Spec.Template.Spec.NodeSelector), registry.Age(obj),
					names, images, metav1.FormatLabelSelector(ds.Spec.Selector),
				}
			},
		},
	}
}

// defaultDaemonSet is upstream's SetDefaults_DaemonSet.
func defaultDaemonSet(ds *appsv1.DaemonSet) {
	us := &ds.Spec.UpdateStrategy
	if us.Type == "" {
		us.Type = appsv1.RollingUpdateDaemonSetStrategyType
	}
	if us.Type == appsv1.RollingUpdateDaemonSetStrategyType {
		if us.RollingUpdate == nil {
			us.RollingUpdate = &appsv1.RollingUpdateDaemonSet{}
		}
		if us.RollingUpdate.MaxUnavailable == nil {
			v := intstr.FromInt32(1)
			us.RollingUpdate.MaxUnavailable = &v
		}
		if us.RollingUpdate.MaxSurge == nil {
			v := intstr.FromInt32(0)
			us.RollingUpdate.MaxSurge = &v
		}
	}
	if ds.Spec.RevisionHistoryLimit == nil {
		ds.Spec.RevisionHistoryLimit = int32Ptr(defaultRevisionHistoryLimit)
	}
	core.DefaultPodTemplateSpec(&ds.Spec.Template)
}

func validateDaemonSetSpec(spec *appsv1.DaemonSetSpec, fldPath *field.Path) field.ErrorList {
	selector, errs := validateSelector(spec.Selector, "daemonset", fldPath.Child("selector"))
	errs = append(errs, validateTemplate(&spec.Template, selector, "DaemonSet", fldPath.Child("template"))...)
	errs = append(errs, apivalidation.ValidateNonnegativeField(int64(spec.MinReadySeconds), fldPath.Child("minReadySeconds"))...)
	errs = append(errs, nonNegative(spec.RevisionHistoryLimit, fldPath.Child("revisionHistoryLimit"))...)

	us := fldPath.Child("updateStrategy")
	switch spec.UpdateStrategy.Type {
	case appsv1.OnDeleteDaemonSetStrategyType:
	case appsv1.RollingUpdateDaemonSetStrategyType:
		ru := spec.UpdateStrategy.RollingUpdate
		if ru == nil {
			errs = append(errs, field.Required(us.Child("rollingUpdate"), ""))
			break
		}
		p := us.Child("rollingUpdate")
		errs = append(errs, validateIntOrPercent(ru.MaxUnavailable, p.Child("maxUnavailable"))...)
		errs = append(errs, validateIntOrPercent(ru.MaxSurge, p.Child("maxSurge"))...)
		unavailable, surge := intOrPercentValue(ru.MaxUnavailable), intOrPercentValue(ru.MaxSurge)
		switch {
		case unavailable == 0 && surge == 0:
			errs = append(errs, field.Invalid(p.Child("maxUnavailable"), intOrStringValue(ru.MaxUnavailable), "may not be 0 when `maxSurge` is 0"))
		case unavailable != 0 && surge != 0:
			errs = append(errs, field.Invalid(p.Child("maxSurge"), intOrStringValue(ru.MaxSurge), "may not be set when maxUnavailable is non-zero"))
		}
	default:
		errs = append(errs, field.NotSupported(us.Child("type"), spec.UpdateStrategy.Type, []appsv1.DaemonSetUpdateStrategyType{appsv1.RollingUpdateDaemonSetStrategyType, appsv1.OnDeleteDaemonSetStrategyType}))
	}
	return errs
}
