package core

import (
	"reflect"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// Shared validation helpers, worded like upstream's so that clients see the
// same causes.

// validateNonnegativeQuantity reports a negative quantity.
func validateNonnegativeQuantity(q resource.Quantity, fldPath *field.Path) field.ErrorList {
	if q.Sign() < 0 {
		return field.ErrorList{field.Invalid(fldPath, q.String(), "must be greater than or equal to 0")}
	}
	return nil
}

// validatePositiveQuantity reports a quantity that is not above zero.
func validatePositiveQuantity(q resource.Quantity, fldPath *field.Path) field.ErrorList {
	if q.Sign() <= 0 {
		return field.ErrorList{field.Invalid(fldPath, q.String(), "must be greater than zero")}
	}
	return nil
}

// validateResourceName checks a resource name is a qualified name.
func validateResourceName(name corev1.ResourceName, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	for _, msg := range validation.IsQualifiedName(string(name)) {
		errs = append(errs, field.Invalid(fldPath, name, msg))
	}
	return errs
}

// validateContainerResourceName allows cpu, memory, ephemeral-storage,
// hugepages-* and any domain-prefixed (extended) resource.
func validateContainerResourceName(name corev1.ResourceName, fldPath *field.Path) field.ErrorList {
	errs := validateResourceName(name, fldPath)
	if len(errs) > 0 {
		return errs
	}
	if !strings.Contains(string(name), "/") {
		switch {
		case name == corev1.ResourceCPU, name == corev1.ResourceMemory, name == corev1.ResourceEphemeralStorage,
			strings.HasPrefix(string(name), corev1.ResourceHugePagesPrefix):
		default:
			return field.ErrorList{field.Invalid(fldPath, name, "must be a standard resource for containers")}
		}
	}
	return nil
}

// validatePortNum reports a port outside 1-65535.
func validatePortNum(port int32, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	for _, msg := range validation.IsValidPortNum(int(port)) {
		errs = append(errs, field.Invalid(fldPath, port, msg))
	}
	return errs
}

var supportedProtocols = []string{string(corev1.ProtocolSCTP), string(corev1.ProtocolTCP), string(corev1.ProtocolUDP)}

func validateProtocol(p corev1.Protocol, fldPath *field.Path) field.ErrorList {
	switch p {
	case corev1.ProtocolTCP, corev1.ProtocolUDP, corev1.ProtocolSCTP:
		return nil
	case "":
		return field.ErrorList{field.Required(fldPath, "")}
	default:
		return field.ErrorList{field.NotSupported(fldPath, p, supportedProtocols)}
	}
}

// validateIntOrStringPort checks a port given as number or IANA name.
func validateIntOrStringPort(p intstr.IntOrString, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	switch p.Type {
	case intstr.Int:
		for _, msg := range validation.IsValidPortNum(p.IntValue()) {
			errs = append(errs, field.Invalid(fldPath, p.IntVal, msg))
		}
	case intstr.String:
		for _, msg := range validation.IsValidPortName(p.StrVal) {
			errs = append(errs, field.Invalid(fldPath, p.StrVal, msg))
		}
	default:
		errs = append(errs, field.Invalid(fldPath, p, "must be an integer or string"))
	}
	return errs
}

func validateLabels(labels map[string]string, fldPath *field.Path) field.ErrorList {
	return metav1validation.ValidateLabels(labels, fldPath)
}

func validateAnnotations(annotations map[string]string, fldPath *field.Path) field.ErrorList {
	return apivalidation.ValidateAnnotations(annotations, fldPath)
}

func validateNonnegative(v int64, fldPath *field.Path) field.ErrorList {
	return apivalidation.ValidateNonnegativeField(v, fldPath)
}

// immutable reports Invalid "field is immutable" when new and old differ, as
// upstream's ValidateImmutableField does.
func immutable(newVal, oldVal interface{}, fldPath *field.Path) field.ErrorList {
	return apivalidation.ValidateImmutableField(newVal, oldVal, fldPath)
}

// setFields returns the JSON names of the non-nil pointer fields of the
// struct v points to, in declaration order. Volume sources, probe handlers
// and env sources are "exactly one of" structs, so this counts them.
func setFields(v interface{}) []string {
	rv := reflect.ValueOf(v).Elem()
	rt := rv.Type()
	var out []string
	for i := 0; i < rt.NumField(); i++ {
		f := rv.Field(i)
		if f.Kind() != reflect.Ptr || f.IsNil() {
			continue
		}
		name := strings.Split(rt.Field(i).Tag.Get("json"), ",")[0]
		out = append(out, name)
	}
	return out
}

func volumeSourceCount(s *corev1.VolumeSource) int {
	return len(setFields(s))
}

// validateResourceList checks names and non-negative quantities.
func validateResourceList(l corev1.ResourceList, fldPath *field.Path, nameCheck func(corev1.ResourceName, *field.Path) field.ErrorList) field.ErrorList {
	var errs field.ErrorList
	for _, name := range sortedResourceNames(l) {
		p := fldPath.Key(string(name))
		errs = append(errs, nameCheck(name, p)...)
		errs = append(errs, validateNonnegativeQuantity(l[name], p)...)
	}
	return errs
}

func sortedResourceNames(l corev1.ResourceList) []corev1.ResourceName {
	names := make([]corev1.ResourceName, 0, len(l))
	for n := range l {
		names = append(names, n)
	}
	sort.Slice(names, func(i, j int) bool { return names[i] < names[j] })
	return names
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// validateLabelSelector checks a metav1 label selector.
func validateLabelSelector(s *metav1.LabelSelector, fldPath *field.Path) field.ErrorList {
	return metav1validation.ValidateLabelSelector(s, metav1validation.LabelSelectorValidationOptions{}, fldPath)
}

// validateMapSelector checks a map selector's keys and values like labels.
func validateMapSelector(sel map[string]string, fldPath *field.Path) field.ErrorList {
	return metav1validation.ValidateLabels(sel, fldPath)
}

// validateConfigMapKey checks a data key.
func validateConfigMapKey(key string, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	for _, msg := range validation.IsConfigMapKey(key) {
		errs = append(errs, field.Invalid(fldPath, key, msg))
	}
	return errs
}

func validateEnvVarName(name string, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	for _, msg := range validation.IsRelaxedEnvVarName(name) {
		errs = append(errs, field.Invalid(fldPath, name, msg))
	}
	return errs
}
