package storageapi

import (
	"strings"

	storagev1 "k8s.io/api/storage/v1"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"skiff/internal/apiserver/registry"
)

func csiDriverResource() registry.Resource {
	return registry.Resource{
		GroupVersion: groupVersion,
		Resource:     "csidrivers",
		SingularName: "csidriver",
		Kind:         "CSIDriver",
		New:          func() runtime.Object { return &storagev1.CSIDriver{} },
		NewList:      func() runtime.Object { return &storagev1.CSIDriverList{} },
		Strategy: registry.Strategy{
			Default: func(obj runtime.Object) { defaultCSIDriver(obj.(*storagev1.CSIDriver)) },
			NameValidation: func(name string, prefix bool) []string {
				var msgs []string
				for _, e := range validateDriverName(name, field.NewPath("metadata", "name")) {
					msgs = append(msgs, e.Detail)
				}
				return msgs
			},
			Validate: validateCSIDriver,
			ValidateUpdate: func(obj, old runtime.Object) field.ErrorList {
				d, o := obj.(*storagev1.CSIDriver), old.(*storagev1.CSIDriver)
				p := field.NewPath("spec")
				errs := apivalidation.ValidateImmutableField(d.Spec.AttachRequired, o.Spec.AttachRequired, p.Child("attachRequired"))
				errs = append(errs, apivalidation.ValidateImmutableField(d.Spec.VolumeLifecycleModes, o.Spec.VolumeLifecycleModes, p.Child("volumeLifecycleModes"))...)
				return append(errs, apivalidation.ValidateImmutableField(d.Spec.StorageCapacity, o.Spec.StorageCapacity, p.Child("storageCapacity"))...)
			},
			TableColumns: []metav1.TableColumnDefinition{
				registry.Column("AttachRequired", "boolean", storagev1.CSIDriverSpec{}.SwaggerDoc()["attachRequired"], 0),
				registry.Column("PodInfoOnMount", "boolean", storagev1.CSIDriverSpec{}.SwaggerDoc()["podInfoOnMount"], 0),
				registry.Column("StorageCapacity", "boolean", storagev1.CSIDriverSpec{}.SwaggerDoc()["storageCapacity"], 0),
				registry.Column("TokenRequests", "string", storagev1.CSIDriverSpec{}.SwaggerDoc()["tokenRequests"], 0),
				registry.Column("RequiresRepublish", "boolean", storagev1.CSIDriverSpec{}.SwaggerDoc()["requiresRepublish"], 0),
				registry.Column("Modes", "string", storagev1.CSIDriverSpec{}.SwaggerDoc()["volumeLifecycleModes"], 0),
				ageColumn(),
			},
			TableRow: func(obj runtime.Object) []interface{} {
				d := obj.(*storagev1.CSIDriver)
				var modes []string
				for _, m := range d.Spec.VolumeLifecycleModes {
					modes = append(modes, string(m))
				}
				modesCell := strings.Join(modes, ",")
				if modesCell == "" {
					modesCell = "<none>"
				}
				tokens := "<unset>"
				if d.Spec.TokenRequests != nil {
					var auds []string
					for _, t := range d.Spec.TokenRequests {
						auds = append(auds, t.Audience)
					}
					tokens = strings.Join(auds, ",")
				}
				return []interface{}{
					boolValue(d.Spec.AttachRequired, true), boolValue(d.Spec.PodInfoOnMount, false),
					boolValue(d.Spec.StorageCapacity, false), tokens, boolValue(d.Spec.RequiresRepublish, false),
					modesCell, registry.Age(obj),
				}
			},
		},
	}
}

// defaultCSIDriver is upstream's SetDefaults_CSIDriver.
func defaultCSIDriver(d *storagev1.CSIDriver) {
	t, f := true, false
	if d.Spec.AttachRequired == nil {
		d.Spec.AttachRequired = &t
	}
	if d.Spec.PodInfoOnMount == nil {
		d.Spec.PodInfoOnMount = &f
	}
	if d.Spec.StorageCapacity == nil {
		d.Spec.StorageCapacity = &f
	}
	if d.Spec.FSGroupPolicy == nil {
		p := storagev1.ReadWriteOnceWithFSTypeFSGroupPolicy
		d.Spec.FSGroupPolicy = &p
	}
	if len(d.Spec.VolumeLifecycleModes) == 0 {
		d.Spec.VolumeLifecycleModes = []storagev1.VolumeLifecycleMode{storagev1.VolumeLifecyclePersistent}
	}
	if d.Spec.RequiresRepublish == nil {
		d.Spec.RequiresRepublish = &f
	}
	if d.Spec.SELinuxMount == nil {
		d.Spec.SELinuxMount = &f
	}
}

func validateCSIDriver(obj runtime.Object) field.ErrorList {
	d := obj.(*storagev1.CSIDriver)
	p := field.NewPath("spec")
	var errs field.ErrorList
	if d.Spec.AttachRequired == nil {
		errs = append(errs, field.Required(p.Child("attachRequired"), ""))
	}
	if d.Spec.PodInfoOnMount == nil {
		errs = append(errs, field.Required(p.Child("podInfoOnMount"), ""))
	}
	if d.Spec.StorageCapacity == nil {
		errs = append(errs, field.Required(p.Child("storageCapacity"), ""))
	}
	if d.Spec.FSGroupPolicy != nil {
		switch *d.Spec.FSGroupPolicy {
		case storagev1.ReadWriteOnceWithFSTypeFSGroupPolicy, storagev1.FileFSGroupPolicy, storagev1.NoneFSGroupPolicy:
		default:
			errs = append(errs, field.NotSupported(p.Child("fsGroupPolicy"), *d.Spec.FSGroupPolicy, []storagev1.FSGroupPolicy{storagev1.ReadWriteOnceWithFSTypeFSGroupPolicy, storagev1.FileFSGroupPolicy, storagev1.NoneFSGroupPolicy}))
		}
	}
	for i, m := range d.Spec.VolumeLifecycleModes {
		if m != storagev1.VolumeLifecyclePersistent && m != storagev1.VolumeLifecycleEphemeral {
			errs = append(errs, field.NotSupported(p.Child("volumeLifecycleModes").Index(i), m, []storagev1.VolumeLifecycleMode{storagev1.VolumeLifecyclePersistent, storagev1.VolumeLifecycleEphemeral}))
		}
	}
	seen := map[string]bool{}
	for i, t := range d.Spec.TokenRequests {
		if seen[t.Audience] {
			errs = append(errs, field.Duplicate(p.Child("tokenRequests").Index(i).Child("audience"), t.Audience))
		}
		seen[t.Audience] = true
		if t.ExpirationSeconds != nil && *t.ExpirationSeconds < 600 {
			errs = append(errs, field.Invalid(p.Child("tokenRequests").Index(i).Child("expirationSeconds"), *t.ExpirationSeconds, "may not specify a duration less than 10 minutes"))
		}
	}
	return errs
}
