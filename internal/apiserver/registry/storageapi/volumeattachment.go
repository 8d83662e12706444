package storageapi

import (
	storagev1 "k8s.io/api/storage/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"skiff/internal/apiserver/registry"
)

func volumeAttachmentResource() registry.Resource {
	return registry.Resource{
		GroupVersion: groupVersion,
		Resource:     "volumeattachments",
		SingularName: "volumeattachment",
		Kind:         "VolumeAttachment",
		Subresources: []string{"status"},
		New:          func() runtime.Object { return &storagev1.VolumeAttachment{} },
		NewList:      func() runtime.Object { return &storagev1.VolumeAttachmentList{} },
		Strategy: registry.Strategy{
			SubresourceUpdates: map[string]registry.SubresourceUpdate{"status": registry.StatusUpdate(registry.Status{ResetMetadata: true})},
			PrepareForCreate: func(obj runtime.Object) {
				obj.(*storagev1.VolumeAttachment).Status = storagev1.VolumeAttachmentStatus{}
			},
			PrepareForUpdate: func(obj, old runtime.Object) {
				obj.(*storagev1.VolumeAttachment).Status = old.(*storagev1.VolumeAttachment).Status
			},
			Validate: validateVolumeAttachment,
			ValidateUpdate: func(obj, old runtime.Object) field.ErrorList {
				va, o := obj.(*storagev1.VolumeAttachment), old.(*storagev1.VolumeAttachment)
				if !equality.Semantic.DeepEqual(va.Spec, o.Spec) {
					return field.ErrorList{field.Invalid(field.NewPath("spec"), va.Spec, "field is immutable")}
				}
				return nil
			},
			TableColumns: []metav1.TableColumnDefinition{
				{Name: "Attacher", Type: "string", Format: "name", Description: storagev1.VolumeAttachmentSpec{}.SwaggerDoc()["attacher"]},
				registry.Column("PV", "string", storagev1.VolumeAttachmentSource{}.SwaggerDoc()["persistentVolumeName"], 0),
				registry.Column("Node", "string", storagev1.VolumeAttachmentSpec{}.SwaggerDoc()["nodeName"], 0),
				registry.Column("Attached", "boolean", storagev1.VolumeAttachmentStatus{}.SwaggerDoc()["attached"], 0),
				ageColumn(),
			},
			TableRow: func(obj runtime.Object) []interface{} {
				va := obj.(*storagev1.VolumeAttachment)
				pv := ""
				if va.Spec.Source.PersistentVolumeName != nil {
					pv = *va.Spec.Source.PersistentVolumeName
				}
				return []interface{}{va.Spec.Attacher, pv, va.Spec.NodeName, va.Status.Attached, registry.Age(obj)}
			},
		},
	}
}

func validateVolumeAttachment(obj runtime.Object) field.ErrorList {
	va := obj.(*storagev1.VolumeAttachment)
	p := field.NewPath("spec")
	errs := validateDriverName(va.Spec.Attacher, p.Child("attacher"))
	src := va.Spec.Source
	switch {
	case src.PersistentVolumeName == nil && src.InlineVolumeSpec == nil,
		src.PersistentVolumeName != nil && src.InlineVolumeSpec != nil:
		errs = append(errs, field.Required(p.Child("source"), "must specify exactly one of inlineVolumeSpec and persistentVolumeName"))
	case src.PersistentVolumeName != nil && *src.PersistentVolumeName == "":
		errs = append(errs, field.Required(p.Child("source", "persistentVolumeName"), "must specify non empty persistentVolumeName"))
	}
	if va.Spec.NodeName == "" {
		errs = append(errs, field.Required(p.Child("nodeName"), ""))
	} else {
		for _, msg := range apivalidation.NameIsDNSSubdomain(va.Spec.NodeName, false) {
			errs = append(errs, field.Invalid(p.Child("nodeName"), va.Spec.NodeName, msg))
		}
	}
	return errs
}
