package admission

import (
	"context"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// defaultStorageClass is upstream's DefaultStorageClass plugin: a new
// claim that names no class (nil spec.storageClassName and no beta
// annotation) gets the default StorageClass, the newest when several are
// annotated default. With no default class the claim is left alone.
type defaultStorageClass struct {
	objects Objects
}

var _ Mutator = defaultStorageClass{}

var (
	storageClassesGVR = schema.GroupVersionResource{Group: storagev1.GroupName, Version: "v1", Resource: "storageclasses"}
	pvcsGR            = schema.GroupResource{Resource: "persistentvolumeclaims"}
)

// Annotations of storage classes and claims, as upstream spells them.
const (
	annDefaultStorageClass     = "storageclass.kubernetes.io/is-default-class"
	annBetaDefaultStorageClass = "storageclass.beta.kubernetes.io/is-default-class"
	annBetaStorageClass        = "volume.beta.kubernetes.io/storage-class"
)

func (defaultStorageClass) Name() string { return "DefaultStorageClass" }

func (defaultStorageClass) Handles(op Operation) bool { return op == Create }

func (p defaultStorageClass) Admit(_ context.Context, a *Attributes) error {
	if a.Resource.GroupResource() != pvcsGR || a.SubResource != "" {
		return nil
	}
	pvc, ok := a.Object.(*corev1.PersistentVolumeClaim)
	if !ok {
		return nil
	}
	if _, ok := pvc.Annotations[annBetaStorageClass]; ok || pvc.Spec.StorageClassName != nil {
		return nil
	}
	if def := newestDefaultClass(p.objects); def != "" {
		pvc.Spec.StorageClassName = &def
	}
	return nil
}

// newestDefaultClass names the default StorageClass: of those annotated
// default, the newest, then the first by name; "" when none is.
func newestDefaultClass(objects Objects) string {
	var defs []metav1.Object
	for _, o := range objects.List(storageClassesGVR, "") {
		sc, ok := o.(*storagev1.StorageClass)
		if ok && (sc.Annotations[annDefaultStorageClass] == "true" || sc.Annotations[annBetaDefaultStorageClass] == "true") {
			defs = append(defs, sc)
		}
	}
	return newest(defs)
}

// newest names the newest of objs by creationTimestamp, the first by name
// among equals; "" when objs is empty. Both default-class plugins pick
// their class so when several are marked default.
func newest(objs []metav1.Object) string {
	if len(objs) == 0 {
		return ""
	}
	best := objs[0]
	for _, o := range objs[1:] {
		to, tb := o.GetCreationTimestamp().UnixNano(), best.GetCreationTimestamp().UnixNano()
		if to > tb || (to == tb && o.GetName() < best.GetName()) {
			best = o
		}
	}
	return best.GetName()
}
