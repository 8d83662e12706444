package admission

import (
	"context"
	"sort"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
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
	var defs []*storagev1.StorageClass
	for _, o := range objects.List(storageClassesGVR, "") {
		sc, ok := o.(*storagev1.StorageClass)
		if ok && (sc.Annotations[annDefaultStorageClass] == "true" || sc.Annotations[annBetaDefaultStorageClass] == "true") {
			defs = append(defs, sc)
		}
	}
	if len(defs) == 0 {
		return ""
	}
	sort.Slice(defs, func(i, j int) bool {
		ti, tj := defs[i].CreationTimestamp.UnixNano(), defs[j].CreationTimestamp.UnixNano()
		if ti == tj {
			return defs[i].Name < defs[j].Name
		}
		return ti > tj
	})
	return defs[0].Name
}
