package core

import (
	"fmt"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"skiff/internal/apiserver/registry"
)

func persistentVolumeClaimResource() registry.Resource {
	return registry.Resource{
		GroupVersion: corev1.SchemeGroupVersion,
		Resource:     "persistentvolumeclaims",
		SingularName: "persistentvolumeclaim",
		Kind:         "PersistentVolumeClaim",
		ShortNames:   []string{"pvc"},
		Namespaced:   true,
		Subresources: []string{"status"},
		New:          func() runtime.Object { return &corev1.PersistentVolumeClaim{} },
		NewList:      func() runtime.Object { return &corev1.PersistentVolumeClaimList{} },
		Strategy: registry.Strategy{
			Default: func(obj runtime.Object) {
				pvc := obj.(*corev1.PersistentVolumeClaim)
				defaultPVCSpec(&pvc.Spec)
				if pvc.Status.Phase == "" {
					pvc.Status.Phase = corev1.ClaimPending
				}
			},
			PrepareForCreate: func(obj runtime.Object) {
				obj.(*corev1.PersistentVolumeClaim).Status = corev1.PersistentVolumeClaimStatus{Phase: corev1.ClaimPending}
			},
			PrepareForUpdate: func(obj, old runtime.Object) {
				obj.(*corev1.PersistentVolumeClaim).Status = old.(*corev1.PersistentVolumeClaim).Status
			},
			Validate: func(obj runtime.Object) field.ErrorList {
				return validatePVCSpec(&obj.(*corev1.PersistentVolumeClaim).Spec, field.NewPath("spec"))
			},
			ValidateUpdate: func(obj, old runtime.Object) field.ErrorList {
				return validatePVCUpdate(obj.(*corev1.PersistentVolumeClaim), old.(*corev1.PersistentVolumeClaim))
			},
			SubresourceUpdates: map[string]registry.SubresourceUpdate{
				"status": registry.StatusUpdate(registry.Status{
					Validate: func(obj, old runtime.Object) field.ErrorList {
						pvc := obj.(*corev1.PersistentVolumeClaim)
						p := field.NewPath("status", "capacity")
						var errs field.ErrorList
						for name, q := range pvc.Status.Capacity {
							errs = append(errs, validateNonnegativeQuantity(q, p.Key(string(name)))...)
						}
						return errs
					},
				}),
			},
			TableColumns: []metav1.TableColumnDefinition{
				registry.Column("Status", "string", corev1.PersistentVolumeClaimStatus{}.SwaggerDoc()["phase"], 0),
				registry.Column("Volume", "string", corev1.PersistentVolumeClaimSpec{}.SwaggerDoc()["volumeName"], 0),
				registry.Column("Capacity", "string", corev1.PersistentVolumeClaimStatus{}.SwaggerDoc()["capacity"], 0),
				registry.Column("Access Modes", "string", corev1.PersistentVolumeClaimStatus{}.SwaggerDoc()["accessModes"], 0),
				registry.Column("StorageClass", "string", "StorageClass of the pvc", 0),
				registry.Column("VolumeAttributesClass", "string", "VolumeAttributesClass of the pvc", 0),
				registry.Column("Age", "string", metav1.ObjectMeta{}.SwaggerDoc()["creationTimestamp"], 0),
				registry.Column("VolumeMode", "string", corev1.PersistentVolumeClaimSpec{}.SwaggerDoc()["volumeMode"], 1),
			},
			TableRow: func(obj runtime.Object) []interface{} { return pvcRow(obj.(*corev1.PersistentVolumeClaim)) },
			Fields: func(obj runtime.Object) fields.Set {
				return fields.Set{"name": obj.(*corev1.PersistentVolumeClaim).Name}
			},
		},
	}
}

func defaultPVCSpec(spec *corev1.PersistentVolumeClaimSpec) {
	if spec.VolumeMode == nil {
		m := corev1.PersistentVolumeFilesystem
		spec.VolumeMode = &m
	}
	roundResourceList(spec.Resources.Requests)
	roundResourceList(spec.Resources.Limits)
}

func validatePVCSpec(spec *corev1.PersistentVolumeClaimSpec, fldPath *field.Path) field.ErrorList {
	errs := validateAccessModes(spec.AccessModes, "at least 1 access mode is required", fldPath.Child("accessModes"))
	if spec.Selector != nil {
		errs = append(errs, validateLabelSelector(spec.Selector, fldPath.Child("selector"))...)
	}
	// Upstream reports the storage request at spec.resources[storage].
	storagePath := fldPath.Child("resources").Key(string(corev1.ResourceStorage))
	if q, ok := spec.Resources.Requests[corev1.ResourceStorage]; !ok {
		errs = append(errs, field.Required(storagePath, ""))
	} else {
		errs = append(errs, validatePositiveQuantity(q, storagePath)...)
	}
	for name, q := range spec.Resources.Limits {
		errs = append(errs, validateNonnegativeQuantity(q, fldPath.Child("resources", "limits").Key(string(name)))...)
	}
	if spec.StorageClassName != nil && *spec.StorageClassName != "" {
		errs = append(errs, registry.ValidateDNSSubdomain(*spec.StorageClassName, fldPath.Child("storageClassName"))...)
	}
	if spec.VolumeMode != nil && *spec.VolumeMode != corev1.PersistentVolumeBlock && *spec.VolumeMode != corev1.PersistentVolumeFilesystem {
		errs = append(errs, field.NotSupported(fldPath.Child("volumeMode"), *spec.VolumeMode, []string{"Block", "Filesystem"}))
	}
	if ds := spec.DataSource; ds != nil {
		if ds.Name == "" {
			errs = append(errs, field.Required(fldPath.Child("dataSource", "name"), ""))
		}
		if ds.Kind == "" {
			errs = append(errs, field.Required(fldPath.Child("dataSource", "kind"), ""))
		}
	}
	return errs
}

func validatePVCUpdate(pvc, old *corev1.PersistentVolumeClaim) field.ErrorList {
	var errs field.ErrorList
	specPath := field.NewPath("spec")
	n := pvc.Spec.DeepCopy()
	// An unbound claim may be given a volume (binding).
	if old.Spec.VolumeName == "" {
		n.VolumeName = ""
		o := old.Spec.DeepCopy()
		o.VolumeName = ""
		old = &corev1.PersistentVolumeClaim{ObjectMeta: old.ObjectMeta, Spec: *o, Status: old.Status}
	}
	// The beta class annotation may move to spec.storageClassName; it
	// never changes. A claim that named no class may be given one, once
	// (upstream's retroactive default StorageClass).
	oldAnn, oldHasAnn := old.Annotations[betaStorageClassAnnotation]
	newAnn := pvc.Annotations[betaStorageClassAnnotation]
	switch {
	case oldHasAnn && newAnn == oldAnn && old.Spec.StorageClassName == nil && n.StorageClassName != nil && *n.StorageClassName == oldAnn:
		n.StorageClassName = nil
	case newAnn != oldAnn:
		errs = append(errs, field.Invalid(field.NewPath("metadata", "annotations").Child(betaStorageClassAnnotation), newAnn, "field is immutable"))
	case !oldHasAnn && old.Spec.StorageClassName == nil && n.StorageClassName != nil && *n.StorageClassName != "":
		n.StorageClassName = nil
	}
	if !equality.Semantic.DeepEqual(pvc.Spec.VolumeMode, old.Spec.VolumeMode) {
		// Upstream reports it at this path, besides the spec error.
		errs = append(errs, field.Invalid(field.NewPath("volumeMode"), pvc.Spec.VolumeMode, "field is immutable"))
	}
	if old.Status.Phase == corev1.ClaimBound {
		// A bound claim may grow (expansion) but not shrink below capacity.
		nq, oq := pvc.Spec.Resources.Requests[corev1.ResourceStorage], old.Spec.Resources.Requests[corev1.ResourceStorage]
		if nq.Cmp(oq) < 0 {
			// Shrinking back towards status.capacity recovers from a failed
			// expansion, but never down to it (upstream's check).
			if capq, ok := old.Status.Capacity[corev1.ResourceStorage]; ok && nq.Cmp(capq) <= 0 {
				errs = append(errs, field.Forbidden(specPath.Child("resources", "requests", "storage"), "field can not be less than status.capacity"))
			}
		}
		n.Resources.Requests = old.Spec.Resources.Requests
		n.VolumeAttributesClassName = old.Spec.VolumeAttributesClassName
	}
	if !equality.Semantic.DeepEqual(*n, old.Spec) {
		diff := cmp.Diff(old.Spec, *n)
		errs = append(errs, field.Forbidden(specPath, fmt.Sprintf("spec is immutable after creation except resources.requests and volumeAttributesClassName for bound claims\n%v", diff)))
	}
	return errs
}

func pvcRow(pvc *corev1.PersistentVolumeClaim) []interface{} {
	phase := string(pvc.Status.Phase)
	if pvc.DeletionTimestamp != nil {
		phase = "Terminating"
	}
	capacity, modes := "", ""
	if pvc.Spec.VolumeName != "" {
		modes = accessModesString(pvc.Status.AccessModes)
		q := pvc.Status.Capacity[corev1.ResourceStorage]
		capacity = q.String()
	}
	mode := "<unset>"
	if pvc.Spec.VolumeMode != nil {
		mode = string(*pvc.Spec.VolumeMode)
	}
	vac := "<unset>"
	if pvc.Spec.VolumeAttributesClassName != nil && *pvc.Spec.VolumeAttributesClassName != "" {
		vac = *pvc.Spec.VolumeAttributesClassName
	}
	class := ""
	if a, ok := pvc.Annotations[betaStorageClassAnnotation]; ok {
		class = a
	} else if pvc.Spec.StorageClassName != nil {
		class = *pvc.Spec.StorageClassName
	}
	return []interface{}{phase, pvc.Spec.VolumeName, capacity, modes, class, vac, registry.Age(pvc), mode}
}
