package admission

import (
	"context"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// classes serves StorageClasses to the storage plugins.
type classes []*storagev1.StorageClass

func (c classes) List(gvr schema.GroupVersionResource, _ string) []runtime.Object {
	var out []runtime.Object
	if gvr == storageClassesGVR {
		for _, sc := range c {
			out = append(out, sc)
		}
	}
	return out
}

func (c classes) Get(gvr schema.GroupVersionResource, _, name string) (runtime.Object, bool) {
	if gvr == storageClassesGVR {
		for _, sc := range c {
			if sc.Name == name {
				return sc, true
			}
		}
	}
	return nil, false
}

func (classes) ResourceFor(schema.GroupVersionKind) (schema.GroupVersionResource, bool, bool) {
	return schema.GroupVersionResource{}, false, false
}

func storageClass(name string, created time.Time, isDefault bool, expand *bool) *storagev1.StorageClass {
	sc := &storagev1.StorageClass{ObjectMeta: metav1.ObjectMeta{Name: name, CreationTimestamp: metav1.NewTime(created)},
		Provisioner: "example.com/x", AllowVolumeExpansion: expand}
	if isDefault {
		sc.Annotations = map[string]string{annDefaultStorageClass: "true"}
	}
	return sc
}

func claimAttrs(op Operation, pvc, old *corev1.PersistentVolumeClaim) *Attributes {
	a := &Attributes{Resource: pvcsGVR, Namespace: "ns", Name: pvc.Name, Operation: op, Object: pvc}
	if old != nil {
		a.OldObject = old
	}
	return a
}

func TestDefaultStorageClass(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	str := func(s string) *string { return &s }
	tests := []struct {
		name    string
		classes classes
		class   *string
		ann     bool
		want    *string
	}{
		{"no default", classes{storageClass("a", t0, false, nil)}, nil, false, nil},
		{"default", classes{storageClass("a", t0, false, nil), storageClass("std", t0, true, nil)}, nil, false, str("std")},
		{"newest default", classes{storageClass("old", t0, true, nil), storageClass("new", t0.Add(time.Hour), true, nil)}, nil, false, str("new")},
		{"explicit empty class kept", classes{storageClass("std", t0, true, nil)}, str(""), false, str("")},
		{"explicit class kept", classes{storageClass("std", t0, true, nil)}, str("fast"), false, str("fast")},
		{"beta annotation counts as a class", classes{storageClass("std", t0, true, nil)}, nil, true, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pvc := &corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Name: "c"}, Spec: corev1.PersistentVolumeClaimSpec{StorageClassName: tt.class}}
			if tt.ann {
				pvc.Annotations = map[string]string{annBetaStorageClass: "old"}
			}
			if err := (defaultStorageClass{objects: tt.classes}).Admit(context.Background(), claimAttrs(Create, pvc, nil)); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, pvc.Spec.StorageClassName); diff != "" {
				t.Errorf("class (-want +got):\n%s", diff)
			}
		})
	}
}

func TestStorageObjectInUseProtection(t *testing.T) {
	pv := &corev1.PersistentVolume{ObjectMeta: metav1.ObjectMeta{Name: "v"}}
	a := &Attributes{Resource: corev1.SchemeGroupVersion.WithResource("persistentvolumes"), Name: "v", Operation: Create, Object: pv}
	if err := (storageObjectInUseProtection{}).Admit(context.Background(), a); err != nil {
		t.Fatal(err)
	}
	pvc := &corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Name: "c", Finalizers: []string{"other"}}}
	if err := (storageObjectInUseProtection{}).Admit(context.Background(), claimAttrs(Create, pvc, nil)); err != nil {
		t.Fatal(err)
	}
	// Twice is once.
	if err := (storageObjectInUseProtection{}).Admit(context.Background(), claimAttrs(Create, pvc, nil)); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{pvProtectionFinalizer}, pv.Finalizers); diff != "" {
		t.Errorf("pv finalizers (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"other", pvcProtectionFinalizer}, pvc.Finalizers); diff != "" {
		t.Errorf("pvc finalizers (-want +got):\n%s", diff)
	}
}

func TestPersistentVolumeClaimResize(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	yes, no := true, false
	cs := classes{storageClass("grow", t0, false, &yes), storageClass("fixed", t0, false, &no), storageClass("unset", t0, false, nil)}
	claim := func(class, size string, phase corev1.PersistentVolumeClaimPhase) *corev1.PersistentVolumeClaim {
		return &corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Name: "c"},
			Spec: corev1.PersistentVolumeClaimSpec{StorageClassName: &class,
				Resources: corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse(size)}}},
			Status: corev1.PersistentVolumeClaimStatus{Phase: phase}}
	}
	const refused = `persistentvolumeclaims "c" is forbidden: only dynamically provisioned pvc can be resized and the storageclass that provisions the pvc must support resize`
	tests := []struct {
		name     string
		old, new *corev1.PersistentVolumeClaim
		want     string // "" allowed, else the 403 message
	}{
		{"grow, class allows", claim("grow", "1Gi", corev1.ClaimBound), claim("grow", "2Gi", corev1.ClaimBound), ""},
		{"grow, class forbids", claim("fixed", "1Gi", corev1.ClaimBound), claim("fixed", "2Gi", corev1.ClaimBound), refused},
		{"grow, class silent", claim("unset", "1Gi", corev1.ClaimBound), claim("unset", "2Gi", corev1.ClaimBound), refused},
		{"grow, class missing", claim("gone", "1Gi", corev1.ClaimBound), claim("gone", "2Gi", corev1.ClaimBound), refused},
		{"grow, no class", claim("", "1Gi", corev1.ClaimBound), claim("", "2Gi", corev1.ClaimBound), refused},
		{"grow, unbound", claim("grow", "1Gi", corev1.ClaimPending), claim("grow", "2Gi", corev1.ClaimPending),
			`persistentvolumeclaims "c" is forbidden: Only bound persistent volume claims can be expanded`},
		{"same size", claim("fixed", "1Gi", corev1.ClaimBound), claim("fixed", "1Gi", corev1.ClaimBound), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := (persistentVolumeClaimResize{objects: cs}).Validate(context.Background(), claimAttrs(Update, tt.new, tt.old))
			got := ""
			if err != nil {
				if !apierrors.IsForbidden(err) {
					t.Fatalf("error %v is not 403", err)
				}
				got = err.Error()
			}
			if got != tt.want {
				t.Errorf("resize: %q, want %q", got, tt.want)
			}
		})
	}
}
