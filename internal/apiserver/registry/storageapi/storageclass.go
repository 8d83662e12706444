package storageapi

import (
	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"skiff/internal/apiserver/registry"
)

func storageClassResource() registry.Resource {
	return registry.Resource{
		GroupVersion: groupVersion,
		Resource:     "storageclasses",
		SingularName: "storageclass",
		Kind:         "StorageClass",
		ShortNames:   []string{"sc"},
		New:          func() runtime.Object { return &storagev1.StorageClass{} },
		NewList:      func() runtime.Object { return &storagev1.StorageClassList{} },
		Strategy: registry.Strategy{
			Default: func(obj runtime.Object) {
				sc := obj.(*storagev1.StorageClass)
				if sc.ReclaimPolicy == nil {
					p := corev1.PersistentVolumeReclaimDelete
					sc.ReclaimPolicy = &p
				}
				if sc.VolumeBindingMode == nil {
					m := storagev1.VolumeBindingImmediate
					sc.VolumeBindingMode = &m
				}
			},
			Validate:          validateStorageClass,
			ValidateUpdate:    validateStorageClassUpdate,
			TableIncludesName: true,
			TableColumns: []metav1.TableColumnDefinition{
				{Name: "Name", Type: "string", Format: "name", Description: metav1.ObjectMeta{}.SwaggerDoc()["name"]},
				registry.Column("Provisioner", "string", storagev1.StorageClass{}.SwaggerDoc()["provisioner"], 0),
				registry.Column("ReclaimPolicy", "string", storagev1.StorageClass{}.SwaggerDoc()["reclaimPolicy"], 0),
				registry.Column("VolumeBindingMode", "string", storagev1.StorageClass{}.SwaggerDoc()["volumeBindingMode"], 0),
				registry.Column("AllowVolumeExpansion", "string", storagev1.StorageClass{}.SwaggerDoc()["allowVolumeExpansion"], 0),
				ageColumn(),
			},
			TableRow: storageClassRow,
		},
	}
}

// storageClassRow names the default class "NAME (default)" as kubectl does,
// which is why the strategy renders the Name cell itself.
func storageClassRow(obj runtime.Object) []interface{} {
	sc := obj.(*storagev1.StorageClass)
	name := sc.Name
	if IsDefaultStorageClass(sc.ObjectMeta) {
		name += " (default)"
	}
	reclaim := string(corev1.PersistentVolumeReclaimDelete)
	if sc.ReclaimPolicy != nil {
		reclaim = string(*sc.ReclaimPolicy)
	}
	binding := string(storagev1.VolumeBindingImmediate)
	if sc.VolumeBindingMode != nil {
		binding = string(*sc.VolumeBindingMode)
	}
	return []interface{}{name, sc.Provisioner, reclaim, binding, boolValue(sc.AllowVolumeExpansion, false), registry.Age(obj)}
}

// IsDefaultStorageClass reports whether m carries the default-class
// annotation (GA or beta) set to "true".
func IsDefaultStorageClass(m metav1.ObjectMeta) bool {
	return m.Annotations[IsDefaultStorageClassAnnotation] == "true" || m.Annotations[BetaIsDefaultStorageClassAnnotation] == "true"
}

func validateStorageClass(obj runtime.Object) field.ErrorList {
	sc := obj.(*storagev1.StorageClass)
	var errs field.ErrorList
	p := field.NewPath("provisioner")
	if sc.Provisioner == "" {
		errs = append(errs, field.Required(p, ""))
	} else {
		if len(sc.Provisioner) > 63 {
			errs = append(errs, field.TooLong(p, "", 63))
		}
		for _, msg := range validation.IsQualifiedName(toLower(sc.Provisioner)) {
			errs = append(errs, field.Invalid(p, sc.Provisioner, msg))
		}
	}
	if sc.ReclaimPolicy != nil && *sc.ReclaimPolicy != corev1.PersistentVolumeReclaimDelete && *sc.ReclaimPolicy != corev1.PersistentVolumeReclaimRetain {
		errs = append(errs, field.NotSupported(field.NewPath("reclaimPolicy"), *sc.ReclaimPolicy, []corev1.PersistentVolumeReclaimPolicy{corev1.PersistentVolumeReclaimDelete, corev1.PersistentVolumeReclaimRetain}))
	}
	if sc.VolumeBindingMode == nil {
		errs = append(errs, field.Required(field.NewPath("volumeBindingMode"), ""))
	} else if m := *sc.VolumeBindingMode; m != storagev1.VolumeBindingImmediate && m != storagev1.VolumeBindingWaitForFirstConsumer {
		errs = append(errs, field.NotSupported(field.NewPath("volumeBindingMode"), m, []storagev1.VolumeBindingMode{storagev1.VolumeBindingImmediate, storagev1.VolumeBindingWaitForFirstConsumer}))
	}
	for k := range sc.Parameters {
		if k == "" {
			errs = append(errs, field.Invalid(field.NewPath("parameters"), sc.Parameters, "invalid empty parameter name"))
		}
	}
	return errs
}

func validateStorageClassUpdate(obj, old runtime.Object) field.ErrorList {
	sc, o := obj.(*storagev1.StorageClass), old.(*storagev1.StorageClass)
	var errs field.ErrorList
	if !equality.Semantic.DeepEqual(sc.Parameters, o.Parameters) {
		errs = append(errs, field.Forbidden(field.NewPath("parameters"), "updates to parameters are forbidden."))
	}
	if sc.Provisioner != o.Provisioner {
		errs = append(errs, field.Forbidden(field.NewPath("provisioner"), "updates to provisioner are forbidden."))
	}
	if !equality.Semantic.DeepEqual(sc.ReclaimPolicy, o.ReclaimPolicy) {
		errs = append(errs, field.Forbidden(field.NewPath("reclaimPolicy"), "updates to reclaimPolicy are forbidden."))
	}
	errs = append(errs, apivalidation.ValidateImmutableField(sc.VolumeBindingMode, o.VolumeBindingMode, field.NewPath("volumeBindingMode"))...)
	return errs
}
