package autoscaling

import (
	"encoding/json"
	"fmt"

	autoscalingv1 "k8s.io/api/autoscaling/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"skiff/internal/apiserver/registry"
)

// Annotations that carry through autoscaling/v1 what it has no fields for.
const (
	MetricsAnnotation    = "autoscaling.alpha.kubernetes.io/metrics"
	ConditionsAnnotation = "autoscaling.alpha.kubernetes.io/conditions"
	BehaviorAnnotation   = "autoscaling.alpha.kubernetes.io/behavior"
)

func hpaV1Resource() registry.Resource {
	return registry.Resource{
		GroupVersion: autoscalingv1.SchemeGroupVersion,
		Resource:     "horizontalpodautoscalers",
		SingularName: "horizontalpodautoscaler",
		Kind:         "HorizontalPodAutoscaler",
		ShortNames:   []string{"hpa"},
		Categories:   []string{"all"},
		Namespaced:   true,
		Subresources: []string{"status"},
		New:          func() runtime.Object { return &autoscalingv1.HorizontalPodAutoscaler{} },
		NewList:      func() runtime.Object { return &autoscalingv1.HorizontalPodAutoscalerList{} },
		Storage:      autoscalingv2.SchemeGroupVersion.WithResource("horizontalpodautoscalers"),
		ToStorage: func(obj runtime.Object) (runtime.Object, error) {
			h, ok := obj.(*autoscalingv1.HorizontalPodAutoscaler)
			if !ok {
				return nil, fmt.Errorf("convert hpa to autoscaling/v2: unexpected type %T", obj)
			}
			return V1ToV2(h)
		},
		FromStorage: func(obj runtime.Object) (runtime.Object, error) {
			h, ok := obj.(*autoscalingv2.HorizontalPodAutoscaler)
			if !ok {
				return nil, fmt.Errorf("convert hpa from autoscaling/v2: unexpected type %T", obj)
			}
			return V2ToV1(h)
		},
		Strategy: registry.Strategy{
			SubresourceUpdates: map[string]registry.SubresourceUpdate{"status": registry.StatusUpdate(registry.Status{})},
			Default: func(obj runtime.Object) {
				h := obj.(*autoscalingv1.HorizontalPodAutoscaler)
				if h.Spec.MinReplicas == nil {
					one := int32(1)
					h.Spec.MinReplicas = &one
				}
			},
			PrepareForCreate: func(obj runtime.Object) {
				obj.(*autoscalingv1.HorizontalPodAutoscaler).Status = autoscalingv1.HorizontalPodAutoscalerStatus{}
			},
			PrepareForUpdate: func(obj, old runtime.Object) {
				h, o := obj.(*autoscalingv1.HorizontalPodAutoscaler), old.(*autoscalingv1.HorizontalPodAutoscaler)
				h.Status = o.Status
				if v, ok := o.Annotations[ConditionsAnnotation]; ok {
					if h.Annotations == nil {
						h.Annotations = map[string]string{}
					}
					h.Annotations[ConditionsAnnotation] = v
				} else {
					delete(h.Annotations, ConditionsAnnotation)
				}
			},
			Validate:        validateV1,
			TrackGeneration: true,
			TableColumns:    hpaTableColumns(),
			TableRow: func(obj runtime.Object) []interface{} {
				v2, err := V1ToV2(obj.(*autoscalingv1.HorizontalPodAutoscaler))
				if err != nil {
					v2 = &autoscalingv2.HorizontalPodAutoscaler{}
				}
				return hpaRow(v2)
			},
		},
	}
}

func validateV1(obj runtime.Object) field.ErrorList {
	h := obj.(*autoscalingv1.HorizontalPodAutoscaler)
	p := field.NewPath("spec")
	var errs field.ErrorList
	if h.Spec.ScaleTargetRef.Kind == "" {
		errs = append(errs, field.Required(p.Child("scaleTargetRef", "kind"), ""))
	}
	if h.Spec.ScaleTargetRef.Name == "" {
		errs = append(errs, field.Required(p.Child("scaleTargetRef", "name"), ""))
	}
	if h.Spec.MinReplicas != nil && *h.Spec.MinReplicas < 1 {
		errs = append(errs, field.Invalid(p.Child("minReplicas"), *h.Spec.MinReplicas, "must be greater than or equal to 1"))
	}
	if h.Spec.MaxReplicas < 1 {
		errs = append(errs, field.Invalid(p.Child("maxReplicas"), h.Spec.MaxReplicas, "must be greater than 0"))
	}
	if h.Spec.MinReplicas != nil && h.Spec.MaxReplicas < *h.Spec.MinReplicas {
		errs = append(errs, field.Invalid(p.Child("maxReplicas"), h.Spec.MaxReplicas, "must be greater than or equal to `minReplicas`"))
	}
	if t := h.Spec.TargetCPUUtilizationPercentage; t != nil && *t < 1 {
		errs = append(errs, field.Invalid(p.Child("targetCPUUtilizationPercentage"), *t, "must be greater than 0"))
	}
	if v2, err := V1ToV2(h); err != nil {
		errs = append(errs, field.Invalid(field.NewPath("metadata", "annotations"), "", err.Error()))
	} else {
		for i := range v2.Spec.Metrics {
			errs = append(errs, validateMetric(&v2.Spec.Metrics[i], field.NewPath("metadata", "annotations").Key(MetricsAnnotation).Index(i))...)
		}
	}
	return errs
}

// V1ToV2 converts an autoscaling/v1 HPA to autoscaling/v2, unpacking the
// annotations and applying v2 defaults (a cpu target of 80% when none).
func V1ToV2(in *autoscalingv1.HorizontalPodAutoscaler) (*autoscalingv2.HorizontalPodAutoscaler, error) {
	out := &autoscalingv2.HorizontalPodAutoscaler{ObjectMeta: *in.ObjectMeta.DeepCopy()}
	out.APIVersion, out.Kind = autoscalingv2.SchemeGroupVersion.String(), "HorizontalPodAutoscaler"
	out.Spec.ScaleTargetRef = autoscalingv2.CrossVersionObjectReference{
		Kind: in.Spec.ScaleTargetRef.Kind, Name: in.Spec.ScaleTargetRef.Name, APIVersion: in.Spec.ScaleTargetRef.APIVersion,
	}
	out.Spec.MinReplicas = in.Spec.MinReplicas
	out.Spec.MaxReplicas = in.Spec.MaxReplicas
	if t := in.Spec.TargetCPUUtilizationPercentage; t != nil {
		out.Spec.Metrics = append(out.Spec.Metrics, cpuUtilization(*t))
	}
	ann := out.Annotations
	if v, ok := ann[MetricsAnnotation]; ok {
		var extra []autoscalingv2.MetricSpec
		if err := json.Unmarshal([]byte(v), &extra); err != nil {
			return nil, fmt.Errorf("convert hpa to autoscaling/v2: annotation %s: %w", MetricsAnnotation, err)
		}
		out.Spec.Metrics = append(out.Spec.Metrics, extra...)
	}
	if v, ok := ann[BehaviorAnnotation]; ok {
		out.Spec.Behavior = &autoscalingv2.HorizontalPodAutoscalerBehavior{}
		if err := json.Unmarshal([]byte(v), out.Spec.Behavior); err != nil {
			return nil, fmt.Errorf("convert hpa to autoscaling/v2: annotation %s: %w", BehaviorAnnotation, err)
		}
	}
	if v, ok := ann[ConditionsAnnotation]; ok {
		var conds []autoscalingv1.HorizontalPodAutoscalerCondition
		if err := json.Unmarshal([]byte(v), &conds); err != nil {
			return nil, fmt.Errorf("convert hpa to autoscaling/v2: annotation %s: %w", ConditionsAnnotation, err)
		}
		for _, c := range conds {
			out.Status.Conditions = append(out.Status.Conditions, autoscalingv2.HorizontalPodAutoscalerCondition{
				Type: autoscalingv2.HorizontalPodAutoscalerConditionType(c.Type), Status: c.Status,
				LastTransitionTime: c.LastTransitionTime, Reason: c.Reason, Message: c.Message,
			})
		}
	}
	for _, k := range []string{MetricsAnnotation, BehaviorAnnotation, ConditionsAnnotation} {
		delete(out.Annotations, k)
	}
	if len(out.Annotations) == 0 {
		out.Annotations = nil
	}

	out.Status.ObservedGeneration = in.Status.ObservedGeneration
	out.Status.LastScaleTime = in.Status.LastScaleTime
	out.Status.CurrentReplicas = in.Status.CurrentReplicas
	out.Status.DesiredReplicas = in.Status.DesiredReplicas
	if c := in.Status.CurrentCPUUtilizationPercentage; c != nil {
		v := *c
		out.Status.CurrentMetrics = []autoscalingv2.MetricStatus{{
			Type:     autoscalingv2.ResourceMetricSourceType,
			Resource: &autoscalingv2.ResourceMetricStatus{Name: corev1.ResourceCPU, Current: autoscalingv2.MetricValueStatus{AverageUtilization: &v}},
		}}
	}
	defaultHPA(out)
	return out, nil
}

// V2ToV1 converts a stored autoscaling/v2 HPA to autoscaling/v1: the first
// cpu utilization metric becomes targetCPUUtilizationPercentage, the rest
// rides in annotations.
func V2ToV1(in *autoscalingv2.HorizontalPodAutoscaler) (*autoscalingv1.HorizontalPodAutoscaler, error) {
	out := &autoscalingv1.HorizontalPodAutoscaler{ObjectMeta: *in.ObjectMeta.DeepCopy()}
	out.APIVersion, out.Kind = autoscalingv1.SchemeGroupVersion.String(), "HorizontalPodAutoscaler"
	out.Spec.ScaleTargetRef = autoscalingv1.CrossVersionObjectReference{
		Kind: in.Spec.ScaleTargetRef.Kind, Name: in.Spec.ScaleTargetRef.Name, APIVersion: in.Spec.ScaleTargetRef.APIVersion,
	}
	out.Spec.MinReplicas = in.Spec.MinReplicas
	out.Spec.MaxReplicas = in.Spec.MaxReplicas

	var others []autoscalingv2.MetricSpec
	for _, m := range in.Spec.Metrics {
		if out.Spec.TargetCPUUtilizationPercentage == nil && isCPUUtilization(m) {
			v := *m.Resource.Target.AverageUtilization
			out.Spec.TargetCPUUtilizationPercentage = &v
			continue
		}
		others = append(others, m)
	}
	set := func(key string, v interface{}) error {
		b, err := json.Marshal(v)
		if err != nil {
			return fmt.Errorf("convert hpa to autoscaling/v1: annotation %s: %w", key, err)
		}
		if out.Annotations == nil {
			out.Annotations = map[string]string{}
		}
		out.Annotations[key] = string(b)
		return nil
	}
	if len(others) > 0 {
		if err := set(MetricsAnnotation, others); err != nil {
			return nil, err
		}
	}
	if in.Spec.Behavior != nil {
		if err := set(BehaviorAnnotation, in.Spec.Behavior); err != nil {
			return nil, err
		}
	}
	if len(in.Status.Conditions) > 0 {
		conds := make([]autoscalingv1.HorizontalPodAutoscalerCondition, 0, len(in.Status.Conditions))
		for _, c := range in.Status.Conditions {
			conds = append(conds, autoscalingv1.HorizontalPodAutoscalerCondition{
				Type: autoscalingv1.HorizontalPodAutoscalerConditionType(c.Type), Status: c.Status,
				LastTransitionTime: c.LastTransitionTime, Reason: c.Reason, Message: c.Message,
			})
		}
		if err := set(ConditionsAnnotation, conds); err != nil {
			return nil, err
		}
	}

	out.Status.ObservedGeneration = in.Status.ObservedGeneration
	out.Status.LastScaleTime = in.Status.LastScaleTime
	out.Status.CurrentReplicas = in.Status.CurrentReplicas
	out.Status.DesiredReplicas = in.Status.DesiredReplicas
	for _, m := range in.Status.CurrentMetrics {
		if m.Type == autoscalingv2.ResourceMetricSourceType && m.Resource != nil && m.Resource.Name == corev1.ResourceCPU && m.Resource.Current.AverageUtilization != nil {
			v := *m.Resource.Current.AverageUtilization
			out.Status.CurrentCPUUtilizationPercentage = &v
			break
		}
	}
	return out, nil
}

func isCPUUtilization(m autoscalingv2.MetricSpec) bool {
	return m.Type == autoscalingv2.ResourceMetricSourceType && m.Resource != nil && m.Resource.Name == corev1.ResourceCPU &&
		m.Resource.Target.Type == autoscalingv2.UtilizationMetricType && m.Resource.Target.AverageUtilization != nil
}
