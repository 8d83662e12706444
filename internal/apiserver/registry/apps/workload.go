package apps

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	corev1 "k8s.io/api/core/v1"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"skiff/internal/apiserver/registry"
	"skiff/internal/apiserver/registry/core"
)

// Resources returns the apps/v1 resources.
func Resources() []registry.Resource {
	return []registry.Resource{
		deploymentResource(),
		replicaSetResource(),
		statefulSetResource(),
		daemonSetResource(),
		controllerRevisionResource(),
	}
}

var groupVersion = appsv1.SchemeGroupVersion

// Default values upstream's apps/v1 defaults.go uses.
const (
	defaultRevisionHistoryLimit    = int32(10)
	defaultProgressDeadlineSeconds = int32(600)
)

func int32Ptr(v int32) *int32 { return &v }

// validateSelector requires a non-empty, well-formed selector and returns it
// parsed (nil when it is unusable).
func validateSelector(sel *metav1.LabelSelector, kind string, fldPath *field.Path) (labels.Selector, field.ErrorList) {
	if sel == nil {
		return nil, field.ErrorList{field.Required(fldPath, "")}
	}
	errs := metav1validation.ValidateLabelSelector(sel, metav1validation.LabelSelectorValidationOptions{}, fldPath)
	if len(sel.MatchLabels)+len(sel.MatchExpressions) == 0 {
		errs = append(errs, field.Invalid(fldPath, sel, "empty selector is invalid for "+kind))
	}
	selector, err := metav1.LabelSelectorAsSelector(sel)
	if err != nil {
		return nil, errs
	}
	return selector, errs
}

// validateTemplate is upstream's pod template check for controllers whose
// pods run forever: labels match the selector, the pod spec is valid,
// restartPolicy is Always and there is no activeDeadlineSeconds.
func validateTemplate(t *corev1.PodTemplateSpec, selector labels.Selector, kind string, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	if selector != nil && !selector.Empty() && !selector.Matches(labels.Set(t.Labels)) {
		errs = append(errs, field.Invalid(fldPath.Child("metadata", "labels"), t.Labels, "`selector` does not match template `labels`"))
	}
	errs = append(errs, core.ValidatePodTemplateSpec(t, fldPath)...)
	if t.Spec.RestartPolicy != corev1.RestartPolicyAlways {
		errs = append(errs, field.NotSupported(fldPath.Child("spec", "restartPolicy"), t.Spec.RestartPolicy, []corev1.RestartPolicy{corev1.RestartPolicyAlways}))
	}
	if t.Spec.ActiveDeadlineSeconds != nil {
		errs = append(errs, field.Invalid(fldPath.Child("spec", "activeDeadlineSeconds"), *t.Spec.ActiveDeadlineSeconds, "activeDeadlineSeconds in "+kind+" is not Supported"))
	}
	return errs
}

func nonNegative(v *int32, fldPath *field.Path) field.ErrorList {
	if v == nil {
		return nil
	}
	return apivalidation.ValidateNonnegativeField(int64(*v), fldPath)
}

// validateIntOrPercent is upstream's ValidatePositiveIntOrPercent plus
// IsNotMoreThan100Percent.
func validateIntOrPercent(v *intstr.IntOrString, fldPath *field.Path) field.ErrorList {
	if v == nil {
		return nil
	}
	var errs field.ErrorList
	switch v.Type {
	case intstr.String:
		for _, msg := range validation.IsValidPercent(v.StrVal) {
			errs = append(errs, field.Invalid(fldPath, v.StrVal, msg))
		}
		if p, ok := percentValue(*v); ok && p > 100 {
			errs = append(errs, field.Invalid(fldPath, v.StrVal, "must not be greater than 100%"))
		}
	case intstr.Int:
		errs = append(errs, apivalidation.ValidateNonnegativeField(int64(v.IntVal), fldPath)...)
	default:
		errs = append(errs, field.Invalid(fldPath, v, "must be an integer or percentage (e.g '5%')"))
	}
	return errs
}

func percentValue(v intstr.IntOrString) (int, bool) {
	if v.Type != intstr.String || !strings.HasSuffix(v.StrVal, "%") {
		return 0, false
	}
	n, err := strconv.Atoi(strings.TrimSuffix(v.StrVal, "%"))
	if err != nil {
		return 0, false
	}
	return n, true
}

// intOrPercentValue is the number in v, whether a count or a percentage.
func intOrPercentValue(v *intstr.IntOrString) int {
	if v == nil {
		return 0
	}
	if p, ok := percentValue(*v); ok {
		return p
	}
	return v.IntValue()
}

func intOrStringValue(v *intstr.IntOrString) interface{} {
	if v == nil {
		return nil
	}
	if v.Type == intstr.String {
		return v.StrVal
	}
	return v.IntVal
}

// selectorString renders a selector the way the scale subresource and the
// wide Selector column do.
func selectorString(sel *metav1.LabelSelector) string {
	s, err := metav1.LabelSelectorAsSelector(sel)
	if err != nil {
		return "<invalid>"
	}
	return s.String()
}

func replicas(r *int32) int32 {
	if r == nil {
		return 0
	}
	return *r
}

func newScale(m metav1.ObjectMeta, specReplicas, statusReplicas int32, sel *metav1.LabelSelector) *autoscalingv1.Scale {
	sc := &autoscalingv1.Scale{
		ObjectMeta: metav1.ObjectMeta{
			Name:              m.Name,
			Namespace:         m.Namespace,
			UID:               m.UID,
			ResourceVersion:   m.ResourceVersion,
			CreationTimestamp: m.CreationTimestamp,
		},
		Spec:   autoscalingv1.ScaleSpec{Replicas: specReplicas},
		Status: autoscalingv1.ScaleStatus{Replicas: statusReplicas},
	}
	if s, err := metav1.LabelSelectorAsSelector(sel); err == nil {
		sc.Status.Selector = s.String()
	}
	return sc
}

// Column descriptions shared by the workload tables.
var (
	ageDescription        = metav1.ObjectMeta{}.SwaggerDoc()["creationTimestamp"]
	containersDescription = "Names of each container in the template."
	imagesDescription     = "Images referenced by each container in the template."
)

func containerCells(t *corev1.PodTemplateSpec) (string, string) {
	return core.ContainersAndImages(t.Spec.Containers)
}

func readyOf(ready int32, desired *int32) string {
	return fmt.Sprintf("%d/%d", ready, replicas(desired))
}

func statusNonNegative(fldPath *field.Path, values map[string]int32) field.ErrorList {
	var errs field.ErrorList
	for _, name := range sortedKeys(values) {
		errs = append(errs, apivalidation.ValidateNonnegativeField(int64(values[name]), fldPath.Child(name))...)
	}
	return errs
}

func sortedKeys(m map[string]int32) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
