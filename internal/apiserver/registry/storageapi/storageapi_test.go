package storageapi

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"skiff/internal/apiserver/registry"
)

func res(t *testing.T, name string) registry.Resource {
	t.Helper()
	for _, r := range Resources() {
		if r.Resource == name {
			return r
		}
	}
	t.Fatalf("no resource %q", name)
	return registry.Resource{}
}

func TestStorageClass(t *testing.T) {
	s := res(t, "storageclasses").Strategy
	sc := &storagev1.StorageClass{
		ObjectMeta:  metav1.ObjectMeta{Name: "local-path", Annotations: map[string]string{IsDefaultStorageClassAnnotation: "true"}},
		Provisioner: "rancher.io/local-path",
	}
	s.Default(sc)
	if *sc.ReclaimPolicy != corev1.PersistentVolumeReclaimDelete || *sc.VolumeBindingMode != storagev1.VolumeBindingImmediate {
		t.Errorf("defaults: %v %v", *sc.ReclaimPolicy, *sc.VolumeBindingMode)
	}
	if errs := s.Validate(sc); len(errs) != 0 {
		t.Errorf("valid class rejected: %v", errs)
	}
	want := []interface{}{"local-path (default)", "rancher.io/local-path", "Delete", "Immediate", false, "<unknown>"}
	if diff := cmp.Diff(want, s.TableRow(sc)); diff != "" {
		t.Errorf("row (-want +got):\n%s", diff)
	}
	if !s.TableIncludesName || len(s.TableColumns) != len(want) {
		t.Errorf("storage class table must render its own Name column")
	}
	upd := sc.DeepCopy()
	upd.Provisioner = "other.io/x"
	upd.Parameters = map[string]string{"a": "b"}
	var got []string
	for _, e := range s.ValidateUpdate(upd, sc) {
		got = append(got, e.Error())
	}
	wantErrs := []string{"parameters: Forbidden: updates to parameters are forbidden.", "provisioner: Forbidden: updates to provisioner are forbidden."}
	if diff := cmp.Diff(wantErrs, got); diff != "" {
		t.Errorf("update errors (-want +got):\n%s", diff)
	}
	if errs := s.Validate(&storagev1.StorageClass{}); len(errs) != 2 || errs[0].Field != "provisioner" || errs[1].Field != "volumeBindingMode" {
		t.Errorf("empty class: %v", errs)
	}
}

func TestCSIDriverDefaultsAndRow(t *testing.T) {
	s := res(t, "csidrivers").Strategy
	d := &storagev1.CSIDriver{ObjectMeta: metav1.ObjectMeta{Name: "csi.example.com"}}
	s.Default(d)
	if errs := s.Validate(d); len(errs) != 0 {
		t.Errorf("defaulted driver rejected: %v", errs)
	}
	want := []interface{}{true, false, false, "<unset>", false, "Persistent", "<unknown>"}
	if diff := cmp.Diff(want, s.TableRow(d)); diff != "" {
		t.Errorf("row (-want +got):\n%s", diff)
	}
}

func TestValidate(t *testing.T) {
	pv := "pv-1"
	tests := []struct {
		resource string
		obj      runtime.Object
		want     []string
	}{
		{"volumeattachments", &storagev1.VolumeAttachment{Spec: storagev1.VolumeAttachmentSpec{Attacher: "csi.example.com", NodeName: "n1", Source: storagev1.VolumeAttachmentSource{PersistentVolumeName: &pv}}}, nil},
		{"volumeattachments", &storagev1.VolumeAttachment{}, []string{"spec.attacher", "spec.source", "spec.nodeName"}},
		{"csistoragecapacities", &storagev1.CSIStorageCapacity{}, []string{"storageClassName"}},
		{"csinodes", &storagev1.CSINode{Spec: storagev1.CSINodeSpec{Drivers: []storagev1.CSINodeDriver{{Name: "csi.example.com"}}}}, []string{"spec.drivers[0].nodeID"}},
		{"volumeattributesclasses", &storagev1.VolumeAttributesClass{}, []string{"driverName"}},
	}
	for _, tt := range tests {
		t.Run(tt.resource, func(t *testing.T) {
			var got []string
			for _, e := range res(t, tt.resource).Strategy.Validate(tt.obj) {
				got = append(got, e.Field)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("errors (-want +got):\n%s", diff)
			}
		})
	}
}
