package volumematch

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestMatch(t *testing.T) {
	fast := "fast"
	block := corev1.PersistentVolumeBlock
	claim := &corev1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{Name: "c", Namespace: "ns", UID: "u1"},
		Spec: corev1.PersistentVolumeClaimSpec{
			StorageClassName: &fast,
			AccessModes:      []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			Selector:         &metav1.LabelSelector{MatchLabels: map[string]string{"tier": "db"}},
			Resources:        corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")}},
		},
	}
	pv := func(mutate func(*corev1.PersistentVolume)) *corev1.PersistentVolume {
		v := &corev1.PersistentVolume{
			ObjectMeta: metav1.ObjectMeta{Name: "v", Labels: map[string]string{"tier": "db"}},
			Spec: corev1.PersistentVolumeSpec{
				StorageClassName: "fast",
				AccessModes:      []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce, corev1.ReadOnlyMany},
				Capacity:         corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("2Gi")},
			},
			Status: corev1.PersistentVolumeStatus{Phase: corev1.VolumeAvailable},
		}
		if mutate != nil {
			mutate(v)
		}
		return v
	}
	now := metav1.Now()
	tests := []struct {
		name string
		pv   *corev1.PersistentVolume
		want Result
	}{
		{"fits", pv(nil), Yes},
		{"too small", pv(func(v *corev1.PersistentVolume) {
			v.Spec.Capacity[corev1.ResourceStorage] = resource.MustParse("512Mi")
		}), No},
		{"other class", pv(func(v *corev1.PersistentVolume) { v.Spec.StorageClassName = "slow" }), No},
		{"class by the beta annotation", pv(func(v *corev1.PersistentVolume) {
			v.Spec.StorageClassName = "slow"
			v.Annotations = map[string]string{corev1.BetaStorageClassAnnotation: "fast"}
		}), Yes},
		{"missing access mode", pv(func(v *corev1.PersistentVolume) {
			v.Spec.AccessModes = []corev1.PersistentVolumeAccessMode{corev1.ReadOnlyMany}
		}), No},
		{"block volume for a filesystem claim", pv(func(v *corev1.PersistentVolume) { v.Spec.VolumeMode = &block }), No},
		{"selector does not match", pv(func(v *corev1.PersistentVolume) { v.Labels = nil }), No},
		{"not Available", pv(func(v *corev1.PersistentVolume) { v.Status.Phase = corev1.VolumeReleased }), No},
		{"being deleted", pv(func(v *corev1.PersistentVolume) { v.DeletionTimestamp = &now }), No},
		{"claimed by another", pv(func(v *corev1.PersistentVolume) {
			v.Spec.ClaimRef = &corev1.ObjectReference{Namespace: "ns", Name: "other"}
		}), No},
		{"pre-bound by name", pv(func(v *corev1.PersistentVolume) {
			v.Spec.ClaimRef = &corev1.ObjectReference{Namespace: "ns", Name: "c"}
			v.Status.Phase = corev1.VolumePending
			v.Labels = nil
		}), Prebound},
		{"pre-bound to an earlier claim of that name", pv(func(v *corev1.PersistentVolume) {
			v.Spec.ClaimRef = &corev1.ObjectReference{Namespace: "ns", Name: "c", UID: "u0"}
		}), No},
		{"pre-bound but too small", pv(func(v *corev1.PersistentVolume) {
			v.Spec.ClaimRef = &corev1.ObjectReference{Namespace: "ns", Name: "c", UID: "u1"}
			v.Spec.Capacity[corev1.ResourceStorage] = resource.MustParse("1Mi")
		}), No},
	}
	m, err := New(claim)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := m.Match(tt.pv); got != tt.want {
				t.Errorf("Match = %v, want %v", got, tt.want)
			}
		})
	}
	bad := claim.DeepCopy()
	bad.Spec.Selector = &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "k", Operator: "Bogus"}}}
	if _, err := New(bad); err == nil {
		t.Error("New accepted a selector that does not parse")
	}
}
