package storageapi

import (
	storagev1 "k8s.io/api/storage/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"skiff/internal/apiserver/registry"
)

// Resources returns the storage.k8s.io/v1 resources.
func Resources() []registry.Resource {
	return []registry.Resource{
		storageClassResource(),
		csiDriverResource(),
		csiNodeResource(),
		volumeAttachmentResource(),
		csiStorageCapacityResource(),
		volumeAttributesClassResource(),
	}
}

var groupVersion = storagev1.SchemeGroupVersion

// Annotations that mark the cluster's default classes.
const (
	IsDefaultStorageClassAnnotation     = "storageclass.kubernetes.io/is-default-class"
	BetaIsDefaultStorageClassAnnotation = "storageclass.beta.kubernetes.io/is-default-class"
	IsDefaultVolumeAttributesClass      = "storage.kubernetes.io/is-default-class"
)

var ageDescription = metav1.ObjectMeta{}.SwaggerDoc()["creationTimestamp"]

func ageColumn() metav1.TableColumnDefinition {
	return registry.Column("Age", "string", ageDescription, 0)
}

func boolValue(b *bool, def bool) bool {
	if b == nil {
		return def
	}
	return *b
}

// validateDriverName is upstream's CSI driver name rule: at most 63
// characters, a DNS subdomain-like name that may contain dots.
func validateDriverName(name string, fldPath *field.Path) field.ErrorList {
	if name == "" {
		return field.ErrorList{field.Required(fldPath, "")}
	}
	var errs field.ErrorList
	if len(name) > 63 {
		errs = append(errs, field.TooLong(fldPath, "", 63))
	}
	for _, msg := range validation.IsDNS1123Subdomain(toLower(name)) {
		errs = append(errs, field.Invalid(fldPath, name, msg))
	}
	return errs
}

func toLower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c >= 'A' && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}
