package core

import (
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// DefaultPodSpec sets the defaults upstream's SetDefaults_PodSpec, _Pod,
// _Container, _Volume and friends set on a pod spec.
func DefaultPodSpec(spec *corev1.PodSpec) {
	defaultPodSpec(spec)
}

// DefaultPodTemplateSpec defaults a pod template's spec.
func DefaultPodTemplateSpec(t *corev1.PodTemplateSpec) {
	if t == nil {
		return
	}
	defaultPodSpec(&t.Spec)
}

// ValidatePodSpec checks a pod spec the way upstream's ValidatePodSpec does
// for the checks users hit most. meta may be nil (templates).
func ValidatePodSpec(spec *corev1.PodSpec, meta *metav1.ObjectMeta, fldPath *field.Path) field.ErrorList {
	return validatePodSpec(spec, meta, fldPath)
}

// ValidatePodTemplateSpec checks a pod template: its labels and annotations
// (at fldPath.labels and fldPath.annotations, as upstream reports them) and
// its spec. Ephemeral containers are forbidden in templates.
func ValidatePodTemplateSpec(t *corev1.PodTemplateSpec, fldPath *field.Path) field.ErrorList {
	return validatePodTemplateSpec(t, fldPath)
}

// ContainersAndImages returns the comma-joined container names and images,
// the CONTAINERS and IMAGES cells of upstream's workload tables.
func ContainersAndImages(containers []corev1.Container) (names, images string) {
	n := make([]string, 0, len(containers))
	im := make([]string, 0, len(containers))
	for _, c := range containers {
		n = append(n, c.Name)
		im = append(im, c.Image)
	}
	return strings.Join(n, ","), strings.Join(im, ",")
}
