package admission

import (
	"context"
	"slices"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// storageObjectInUseProtection is upstream's StorageObjectInUseProtection
// plugin: every new PersistentVolume gets the kubernetes.io/pv-protection
// finalizer and every new claim kubernetes.io/pvc-protection, which the
// protection controllers remove once the object is no longer in use.
type storageObjectInUseProtection struct{}

var _ Mutator = storageObjectInUseProtection{}

var pvsGR = schema.GroupResource{Resource: "persistentvolumes"}

// The protection finalizers, as upstream spells them.
const (
	pvProtectionFinalizer  = "kubernetes.io/pv-protection"
	pvcProtectionFinalizer = "kubernetes.io/pvc-protection"
)

func (storageObjectInUseProtection) Name() string { return "StorageObjectInUseProtection" }

func (storageObjectInUseProtection) Handles(op Operation) bool { return op == Create }

func (storageObjectInUseProtection) Admit(_ context.Context, a *Attributes) error {
	if a.SubResource != "" {
		return nil
	}
	switch o := a.Object.(type) {
	case *corev1.PersistentVolume:
		if a.Resource.GroupResource() == pvsGR && !slices.Contains(o.Finalizers, pvProtectionFinalizer) {
			o.Finalizers = append(o.Finalizers, pvProtectionFinalizer)
		}
	case *corev1.PersistentVolumeClaim:
		if a.Resource.GroupResource() == pvcsGR && !slices.Contains(o.Finalizers, pvcProtectionFinalizer) {
			o.Finalizers = append(o.Finalizers, pvcProtectionFinalizer)
		}
	}
	return nil
}
