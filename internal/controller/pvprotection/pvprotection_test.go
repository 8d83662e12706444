package pvprotection

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestDecide(t *testing.T) {
	now := metav1.Now()
	pv := func(deleting, finalizer bool, phase corev1.PersistentVolumePhase) *corev1.PersistentVolume {
		v := &corev1.PersistentVolume{Status: corev1.PersistentVolumeStatus{Phase: phase}}
		if deleting {
			v.DeletionTimestamp = &now
		}
		if finalizer {
			v.Finalizers = []string{Finalizer}
		}
		return v
	}
	tests := []struct {
		name string
		pv   *corev1.PersistentVolume
		want action
	}{
		{"new volume gets the finalizer", pv(false, false, corev1.VolumeAvailable), addFinalizer},
		{"protected volume in use", pv(false, true, corev1.VolumeBound), keep},
		{"deleting while bound", pv(true, true, corev1.VolumeBound), keep},
		{"deleting once released", pv(true, true, corev1.VolumeReleased), removeFinalizer},
		{"deleting while available", pv(true, true, corev1.VolumeAvailable), removeFinalizer},
		{"deleting without the finalizer", pv(true, false, corev1.VolumeReleased), keep},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := decide(tt.pv); got != tt.want {
				t.Errorf("decide = %v, want %v", got, tt.want)
			}
		})
	}
}
