package autoscaling

import (
	"fmt"
	"strings"

	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"skiff/internal/apiserver/registry"
)

// Resources returns horizontalpodautoscalers at autoscaling/v2 and
// autoscaling/v1.
func Resources() []registry.Resource {
	return []registry.Resource{hpaV2Resource(), hpaV1Resource()}
}

// DefaultCPUUtilization is the target an HPA without metrics gets.
const DefaultCPUUtilization = int32(80)

func hpaTableColumns() []metav1.TableColumnDefinition {
	return []metav1.TableColumnDefinition{
		registry.Column("Reference", "string", autoscalingv2.HorizontalPodAutoscalerSpec{}.SwaggerDoc()["scaleTargetRef"], 0),
		registry.Column("Targets", "string", autoscalingv2.HorizontalPodAutoscalerSpec{}.SwaggerDoc()["metrics"], 0),
		registry.Column("MinPods", "string", autoscalingv2.HorizontalPodAutoscalerSpec{}.SwaggerDoc()["minReplicas"], 0),
		registry.Column("MaxPods", "string", autoscalingv2.HorizontalPodAutoscalerSpec{}.SwaggerDoc()["maxReplicas"], 0),
		registry.Column("Replicas", "string", autoscalingv2.HorizontalPodAutoscalerStatus{}.SwaggerDoc()["currentReplicas"], 0),
		registry.Column("Age", "string", metav1.ObjectMeta{}.SwaggerDoc()["creationTimestamp"], 0),
	}
}

func hpaV2Resource() registry.Resource {
	return registry.Resource{
		GroupVersion: autoscalingv2.SchemeGroupVersion,
		Resource:     "horizontalpodautoscalers",
		SingularName: "horizontalpodautoscaler",
		Kind:         "HorizontalPodAutoscaler",
		ShortNames:   []string{"hpa"},
		Categories:   []string{"all"},
		Namespaced:   true,
		Subresources: []string{"status"},
		New:          func() runtime.Object { return &autoscalingv2.HorizontalPodAutoscaler{} },
		NewList:      func() runtime.Object { return &autoscalingv2.HorizontalPodAutoscalerList{} },
		Strategy: registry.Strategy{
			Default: func(obj runtime.Object) { defaultHPA(obj.(*autoscalingv2.HorizontalPodAutoscaler)) },
			PrepareForCreate: func(obj runtime.Object) {
				obj.(*autoscalingv2.HorizontalPodAutoscaler).Status = autoscalingv2.HorizontalPodAutoscalerStatus{}
			},
			PrepareForUpdate: func(obj, old runtime.Object) {
				obj.(*autoscalingv2.HorizontalPodAutoscaler).Status = old.(*autoscalingv2.HorizontalPodAutoscaler).Status
			},
			Validate: func(obj runtime.Object) field.ErrorList {
				return validateHPASpec(&obj.(*autoscalingv2.HorizontalPodAutoscaler).Spec, field.NewPath("spec"))
			},
			SubresourceUpdates: map[string]registry.SubresourceUpdate{
				"status": registry.StatusUpdate(registry.Status{
					Validate: func(obj, old runtime.Object) field.ErrorList {
						s := obj.(*autoscalingv2.HorizontalPodAutoscaler).Status
						p := field.NewPath("status")
						var errs field.ErrorList
						if s.CurrentReplicas < 0 {
							errs = append(errs, field.Invalid(p.Child("currentReplicas"), s.CurrentReplicas, "must be greater than or equal to 0"))
						}
						if s.DesiredReplicas < 0 {
							errs = append(errs, field.Invalid(p.Child("desiredReplicas"), s.DesiredReplicas, "must be greater than or equal to 0"))
						}
						return errs
					},
				}),
			},
			TrackGeneration: true,
			TableColumns:    hpaTableColumns(),
			TableRow:        func(obj runtime.Object) []interface{} { return hpaRow(obj.(*autoscalingv2.HorizontalPodAutoscaler)) },
		},
	}
}

// defaultHPA is upstream's autoscaling/v2 SetDefaults_HorizontalPodAutoscaler.
func defaultHPA(h *autoscalingv2.HorizontalPodAutoscaler) {
	if h.Spec.MinReplicas == nil {
		one := int32(1)
		h.Spec.MinReplicas = &one
	}
	if len(h.Spec.Metrics) == 0 {
		h.Spec.Metrics = []autoscalingv2.MetricSpec{cpuUtilization(DefaultCPUUtilization)}
	}
	if b := h.Spec.Behavior; b != nil {
		b.ScaleUp = scaleRules(b.ScaleUp, true)
		b.ScaleDown = scaleRules(b.ScaleDown, false)
	}
}

func cpuUtilization(percent int32) autoscalingv2.MetricSpec {
	return autoscalingv2.MetricSpec{
		Type: autoscalingv2.ResourceMetricSourceType,
		Resource: &autoscalingv2.ResourceMetricSource{
			Name:   corev1.ResourceCPU,
			Target: autoscalingv2.MetricTarget{Type: autoscalingv2.UtilizationMetricType, AverageUtilization: &percent},
		},
	}
}

// scaleRules fills the unset parts of a scaling direction with upstream's
// defaults: up by at most 4 pods or 100% per 15s with no stabilization;
// down by at most 100% per 15s, stabilization left to the controller.
func scaleRules(r *autoscalingv2.HPAScalingRules, up bool) *autoscalingv2.HPAScalingRules {
	if r == nil {
		r = &autoscalingv2.HPAScalingRules{}
	}
	if len(r.Policies) == 0 {
		if up {
			r.Policies = []autoscalingv2.HPAScalingPolicy{
				{Type: autoscalingv2.PodsScalingPolicy, Value: 4, PeriodSeconds: 15},
				{Type: autoscalingv2.PercentScalingPolicy, Value: 100, PeriodSeconds: 15},
			}
		} else {
			r.Policies = []autoscalingv2.HPAScalingPolicy{{Type: autoscalingv2.PercentScalingPolicy, Value: 100, PeriodSeconds: 15}}
		}
	}
	if r.SelectPolicy == nil {
		p := autoscalingv2.MaxChangePolicySelect
		r.SelectPolicy = &p
	}
	if up && r.StabilizationWindowSeconds == nil {
		zero := int32(0)
		r.StabilizationWindowSeconds = &zero
	}
	return r
}

func validateHPASpec(spec *autoscalingv2.HorizontalPodAutoscalerSpec, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	ref := fldPath.Child("scaleTargetRef")
	if spec.ScaleTargetRef.Kind == "" {
		errs = append(errs, field.Required(ref.Child("kind"), ""))
	}
	if spec.ScaleTargetRef.Name == "" {
		errs = append(errs, field.Required(ref.Child("name"), ""))
	}
	if spec.MinReplicas != nil && *spec.MinReplicas < 1 {
		errs = append(errs, field.Invalid(fldPath.Child("minReplicas"), *spec.MinReplicas, "must be greater than or equal to 1"))
	}
	if spec.MaxReplicas < 1 {
		errs = append(errs, field.Invalid(fldPath.Child("maxReplicas"), spec.MaxReplicas, "must be greater than 0"))
	}
	if spec.MinReplicas != nil && spec.MaxReplicas < *spec.MinReplicas {
		errs = append(errs, field.Invalid(fldPath.Child("maxReplicas"), spec.MaxReplicas, "must be greater than or equal to `minReplicas`"))
	}
	for i := range spec.Metrics {
		errs = append(errs, validateMetric(&spec.Metrics[i], fldPath.Child("metrics").Index(i))...)
	}
	if b := spec.Behavior; b != nil {
		errs = append(errs, validateRules(b.ScaleUp, fldPath.Child("behavior", "scaleUp"))...)
		errs = append(errs, validateRules(b.ScaleDown, fldPath.Child("behavior", "scaleDown"))...)
	}
	return errs
}

func validateMetric(m *autoscalingv2.MetricSpec, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	set := map[autoscalingv2.MetricSourceType]bool{
		autoscalingv2.ObjectMetricSourceType:            m.Object != nil,
		autoscalingv2.PodsMetricSourceType:              m.Pods != nil,
		autoscalingv2.ResourceMetricSourceType:          m.Resource != nil,
		autoscalingv2.ContainerResourceMetricSourceType: m.ContainerResource != nil,
		autoscalingv2.ExternalMetricSourceType:          m.External != nil,
	}
	if m.Type == "" {
		return append(errs, field.Required(fldPath.Child("type"), "must specify a metric source type"))
	}
	if _, known := set[m.Type]; !known {
		return append(errs, field.NotSupported(fldPath.Child("type"), m.Type, []autoscalingv2.MetricSourceType{
			autoscalingv2.ContainerResourceMetricSourceType, autoscalingv2.ExternalMetricSourceType, autoscalingv2.ObjectMetricSourceType,
			autoscalingv2.PodsMetricSourceType, autoscalingv2.ResourceMetricSourceType,
		}))
	}
	count := 0
	for _, v := range set {
		if v {
			count++
		}
	}
	if count != 1 {
		errs = append(errs, field.Forbidden(fldPath, "must populate information for the given metric source (only one)"))
	}
	if !set[m.Type] {
		errs = append(errs, field.Required(fldPath.Child(lowerFirst(string(m.Type))), "must populate information for the given metric source"))
		return errs
	}
	switch m.Type {
	case autoscalingv2.ResourceMetricSourceType:
		errs = append(errs, validateTarget(m.Resource.Target, true, fldPath.Child("resource", "target"))...)
	case autoscalingv2.ContainerResourceMetricSourceType:
		if m.ContainerResource.Container == "" {
			errs = append(errs, field.Required(fldPath.Child("containerResource", "container"), "must populate container name"))
		}
		errs = append(errs, validateTarget(m.ContainerResource.Target, true, fldPath.Child("containerResource", "target"))...)
	case autoscalingv2.PodsMetricSourceType:
		errs = append(errs, validateMetricID(m.Pods.Metric, fldPath.Child("pods", "metric"))...)
		if m.Pods.Target.AverageValue == nil {
			errs = append(errs, field.Required(fldPath.Child("pods", "target", "averageValue"), "must specify a positive target averageValue"))
		}
	case autoscalingv2.ObjectMetricSourceType:
		errs = append(errs, validateMetricID(m.Object.Metric, fldPath.Child("object", "metric"))...)
		errs = append(errs, validateTarget(m.Object.Target, false, fldPath.Child("object", "target"))...)
	case autoscalingv2.ExternalMetricSourceType:
		errs = append(errs, validateMetricID(m.External.Metric, fldPath.Child("external", "metric"))...)
		errs = append(errs, validateTarget(m.External.Target, false, fldPath.Child("external", "target"))...)
	}
	return errs
}

func validateMetricID(id autoscalingv2.MetricIdentifier, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	if id.Name == "" {
		errs = append(errs, field.Required(fldPath.Child("name"), "must specify a metric name"))
	}
	if id.Selector != nil {
		errs = append(errs, metav1validation.ValidateLabelSelector(id.Selector, metav1validation.LabelSelectorValidationOptions{}, fldPath.Child("selector"))...)
	}
	return errs
}

func validateTarget(t autoscalingv2.MetricTarget, resource bool, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	switch t.Type {
	case autoscalingv2.UtilizationMetricType:
		if !resource {
			errs = append(errs, field.NotSupported(fldPath.Child("type"), t.Type, []autoscalingv2.MetricTargetType{autoscalingv2.ValueMetricType, autoscalingv2.AverageValueMetricType}))
		} else if t.AverageUtilization == nil {
			errs = append(errs, field.Required(fldPath.Child("averageUtilization"), "must set averageUtilization when type is Utilization"))
		} else if *t.AverageUtilization <= 0 {
			errs = append(errs, field.Invalid(fldPath.Child("averageUtilization"), *t.AverageUtilization, "must be greater than 0"))
		}
	case autoscalingv2.ValueMetricType:
		if t.Value == nil {
			errs = append(errs, field.Required(fldPath.Child("value"), "must set value when type is Value"))
		} else if t.Value.Sign() <= 0 {
			errs = append(errs, field.Invalid(fldPath.Child("value"), t.Value.String(), "must be positive"))
		}
	case autoscalingv2.AverageValueMetricType:
		if t.AverageValue == nil {
			errs = append(errs, field.Required(fldPath.Child("averageValue"), "must set averageValue when type is AverageValue"))
		} else if t.AverageValue.Sign() <= 0 {
			errs = append(errs, field.Invalid(fldPath.Child("averageValue"), t.AverageValue.String(), "must be positive"))
		}
	case "":
		errs = append(errs, field.Required(fldPath.Child("type"), "must specify a metric target type"))
	default:
		errs = append(errs, field.NotSupported(fldPath.Child("type"), t.Type, []autoscalingv2.MetricTargetType{autoscalingv2.UtilizationMetricType, autoscalingv2.ValueMetricType, autoscalingv2.AverageValueMetricType}))
	}
	return errs
}

func validateRules(r *autoscalingv2.HPAScalingRules, fldPath *field.Path) field.ErrorList {
	if r == nil {
		return nil
	}
	var errs field.ErrorList
	if w := r.StabilizationWindowSeconds; w != nil && (*w < 0 || *w > 3600) {
		errs = append(errs, field.Invalid(fldPath.Child("stabilizationWindowSeconds"), *w, "must be less than or equal to 3600 and greater than or equal to 0"))
	}
	for i, p := range r.Policies {
		pp := fldPath.Child("policies").Index(i)
		if p.Type != autoscalingv2.PodsScalingPolicy && p.Type != autoscalingv2.PercentScalingPolicy {
			errs = append(errs, field.NotSupported(pp.Child("type"), p.Type, []autoscalingv2.HPAScalingPolicyType{autoscalingv2.PodsScalingPolicy, autoscalingv2.PercentScalingPolicy}))
		}
		if p.Value <= 0 {
			errs = append(errs, field.Invalid(pp.Child("value"), p.Value, "must be greater than zero"))
		}
		if p.PeriodSeconds <= 0 || p.PeriodSeconds > 1800 {
			errs = append(errs, field.Invalid(pp.Child("periodSeconds"), p.PeriodSeconds, "must be greater than zero and less than or equal to 1800"))
		}
	}
	return errs
}

func lowerFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToLower(s[:1]) + s[1:]
}

func hpaRow(h *autoscalingv2.HorizontalPodAutoscaler) []interface{} {
	minPods := "<unset>"
	if h.Spec.MinReplicas != nil {
		minPods = fmt.Sprintf("%d", *h.Spec.MinReplicas)
	}
	ref := h.Spec.ScaleTargetRef.Kind + "/" + h.Spec.ScaleTargetRef.Name
	return []interface{}{ref, formatMetrics(h.Spec.Metrics, h.Status.CurrentMetrics), minPods, int64(h.Spec.MaxReplicas), int64(h.Status.CurrentReplicas), registry.Age(h)}
}

// formatMetrics is kubectl's TARGETS cell: "current/target" per metric,
// two at most, then "+ N more...".
func formatMetrics(specs []autoscalingv2.MetricSpec, statuses []autoscalingv2.MetricStatus) string {
	if len(specs) == 0 {
		return "<none>"
	}
	const max = 2
	var list []string
	for i, spec := range specs {
		var st *autoscalingv2.MetricStatus
		if i < len(statuses) {
			st = &statuses[i]
		}
		list = append(list, formatMetric(spec, st))
	}
	if len(list) > max {
		return fmt.Sprintf("%s + %d more...", strings.Join(list[:max], ", "), len(list)-max)
	}
	return strings.Join(list, ", ")
}

func formatMetric(spec autoscalingv2.MetricSpec, st *autoscalingv2.MetricStatus) string {
	current := "<unknown>"
	switch spec.Type {
	case autoscalingv2.ExternalMetricSourceType:
		if spec.External.Target.AverageValue != nil {
			if st != nil && st.External != nil && st.External.Current.AverageValue != nil {
				current = st.External.Current.AverageValue.String()
			}
			return fmt.Sprintf("%s/%s (avg)", current, spec.External.Target.AverageValue.String())
		}
		if st != nil && st.External != nil && st.External.Current.Value != nil {
			current = st.External.Current.Value.String()
		}
		return fmt.Sprintf("%s/%s", current, quantityString(spec.External.Target.Value))
	case autoscalingv2.PodsMetricSourceType:
		if st != nil && st.Pods != nil && st.Pods.Current.AverageValue != nil {
			current = st.Pods.Current.AverageValue.String()
		}
		return fmt.Sprintf("%s/%s", current, quantityString(spec.Pods.Target.AverageValue))
	case autoscalingv2.ObjectMetricSourceType:
		if spec.Object.Target.AverageValue != nil {
			if st != nil && st.Object != nil && st.Object.Current.AverageValue != nil {
				current = st.Object.Current.AverageValue.String()
			}
			return fmt.Sprintf("%s/%s (avg)", current, spec.Object.Target.AverageValue.String())
		}
		if st != nil && st.Object != nil && st.Object.Current.Value != nil {
			current = st.Object.Current.Value.String()
		}
		return fmt.Sprintf("%s/%s", current, quantityString(spec.Object.Target.Value))
	case autoscalingv2.ResourceMetricSourceType:
		var cur *autoscalingv2.MetricValueStatus
		if st != nil && st.Resource != nil {
			cur = &st.Resource.Current
		}
		return formatResourceMetric(string(spec.Resource.Name), spec.Resource.Target, cur)
	case autoscalingv2.ContainerResourceMetricSourceType:
		var cur *autoscalingv2.MetricValueStatus
		if st != nil && st.ContainerResource != nil {
			cur = &st.ContainerResource.Current
		}
		return formatResourceMetric(string(spec.ContainerResource.Name), spec.ContainerResource.Target, cur)
	default:
		return "<unknown type>"
	}
}

func formatResourceMetric(name string, target autoscalingv2.MetricTarget, cur *autoscalingv2.MetricValueStatus) string {
	current := "<unknown>"
	if target.AverageValue != nil {
		if cur != nil && cur.AverageValue != nil {
			current = cur.AverageValue.String()
		}
		return fmt.Sprintf("%s: %s/%s", name, current, target.AverageValue.String())
	}
	if cur != nil && cur.AverageUtilization != nil {
		current = fmt.Sprintf("%d%%", *cur.AverageUtilization)
	}
	t := "<auto>"
	if target.AverageUtilization != nil {
		t = fmt.Sprintf("%d%%", *target.AverageUtilization)
	}
	return fmt.Sprintf("%s: %s/%s", name, current, t)
}

func quantityString(q *resource.Quantity) string {
	if q == nil {
		return "<unset>"
	}
	return q.String()
}
