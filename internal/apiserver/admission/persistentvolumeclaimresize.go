package admission

import (
	"context"
	"errors"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
)

// persistentVolumeClaimResize is upstream's PersistentVolumeClaimResize
// plugin: a claim may ask for more storage only when it is bound and its
// StorageClass (unchanged by the update) sets allowVolumeExpansion. The
// registry's validation, which runs first, refuses shrinking.
type persistentVolumeClaimResize struct {
	objects Objects
}

var _ Validator = persistentVolumeClaimResize{}

func (persistentVolumeClaimResize) Name() string { return "PersistentVolumeClaimResize" }

func (persistentVolumeClaimResize) Handles(op Operation) bool { return op == Update }

func (p persistentVolumeClaimResize) Validate(_ context.Context, a *Attributes) error {
	if a.Resource.GroupResource() != pvcsGR || a.SubResource != "" {
		return nil
	}
	pvc, ok := a.Object.(*corev1.PersistentVolumeClaim)
	old, okOld := a.OldObject.(*corev1.PersistentVolumeClaim)
	if !ok || !okOld {
		return nil
	}
	nq, oq := pvc.Spec.Resources.Requests[corev1.ResourceStorage], old.Spec.Resources.Requests[corev1.ResourceStorage]
	if nq.Cmp(oq) <= 0 {
		return nil
	}
	if old.Status.Phase != corev1.ClaimBound {
		return apierrors.NewForbidden(pvcsGR, a.Name, errors.New("Only bound persistent volume claims can be expanded"))
	}
	if !p.allowResize(pvc, old) {
		return apierrors.NewForbidden(pvcsGR, a.Name, errors.New("only dynamically provisioned pvc can be resized and "+
			"the storageclass that provisions the pvc must support resize"))
	}
	return nil
}

func (p persistentVolumeClaimResize) allowResize(pvc, old *corev1.PersistentVolumeClaim) bool {
	class, oldClass := pvcClass(pvc), pvcClass(old)
	if class == "" || oldClass == "" || class != oldClass {
		return false
	}
	obj, found := p.objects.Get(storageClassesGVR, "", class)
	sc, ok := obj.(*storagev1.StorageClass)
	if !found || !ok || sc.AllowVolumeExpansion == nil {
		return false
	}
	return *sc.AllowVolumeExpansion
}

// pvcClass is the class a claim names: the beta annotation first.
func pvcClass(pvc *corev1.PersistentVolumeClaim) string {
	if c, ok := pvc.Annotations[annBetaStorageClass]; ok {
		return c
	}
	if pvc.Spec.StorageClassName != nil {
		return *pvc.Spec.StorageClassName
	}
	return ""
}
