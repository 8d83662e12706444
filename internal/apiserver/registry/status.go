package registry

import (
	"reflect"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// Status describes the update of a resource through its status
// subresource; StatusUpdate turns it into Strategy.SubresourceUpdates["status"].
type Status struct {
	// Prepare copies from old what /status may not change. Nil keeps
	// everything of old but metadata and status, which suits most types.
	Prepare func(obj, old runtime.Object)
	// Validate checks the update; errors answer 422 Invalid.
	Validate func(obj, old runtime.Object) field.ErrorList
	// ResetMetadata keeps old's labels, annotations, finalizers and
	// ownerReferences, as upstream's ResetObjectMetaForStatus does for the
	// newer kinds (admission policies, VolumeAttachments, ServiceCIDRs,
	// resource claims, ...). Most status strategies upstream keep only
	// the spec, so /status may change that metadata (a CronJob's status
	// patch may add an annotation).
	ResetMetadata bool
	// KeepLabels keeps old's labels only, as upstream's Deployment status
	// strategy does.
	KeepLabels bool
}

// StatusUpdate is the update behaviour of a status subresource: st's
// Prepare (or its default), after which generation and deletionTimestamp
// are old's, and so is the metadata st says a status writer may not
// change.
func StatusUpdate(st Status) SubresourceUpdate {
	return SubresourceUpdate{
		Prepare: func(obj, old runtime.Object) {
			if st.Prepare != nil {
				st.Prepare(obj, old)
			} else {
				keepAllButStatus(obj, old)
			}
			m, om := accessor(obj), accessor(old)
			if st.ResetMetadata || st.KeepLabels {
				m.SetLabels(om.GetLabels())
			}
			if st.ResetMetadata {
				m.SetAnnotations(om.GetAnnotations())
				m.SetFinalizers(om.GetFinalizers())
				m.SetOwnerReferences(om.GetOwnerReferences())
			}
			m.SetGeneration(om.GetGeneration())
			m.SetDeletionTimestamp(om.GetDeletionTimestamp())
		},
		Validate: st.Validate,
	}
}

// keepAllButStatus copies every top-level field but metadata and status
// from old into obj: Go structs field by field, unstructured objects key
// by key.
func keepAllButStatus(obj, old runtime.Object) {
	if u, ok := obj.(*unstructured.Unstructured); ok {
		if ou, ok := old.(*unstructured.Unstructured); ok {
			for k := range u.Object {
				if k != "metadata" && k != "status" {
					delete(u.Object, k)
				}
			}
			for k, v := range ou.Object {
				if k != "metadata" && k != "status" {
					u.Object[k] = runtime.DeepCopyJSONValue(v)
				}
			}
		}
		return
	}
	a, b := reflect.ValueOf(obj).Elem(), reflect.ValueOf(old).Elem()
	t := a.Type()
	for i := 0; i < t.NumField(); i++ {
		switch t.Field(i).Name {
		case "TypeMeta", "ObjectMeta", "Status":
			continue
		}
		if a.Field(i).CanSet() {
			a.Field(i).Set(b.Field(i))
		}
	}
}

// accessor returns obj's metadata; every served type has ObjectMeta.
func accessor(obj runtime.Object) metav1.Object {
	m, err := meta.Accessor(obj)
	if err != nil {
		panic("registry: object without metadata: " + err.Error())
	}
	return m
}
