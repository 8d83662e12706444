package pvcprotection

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestPodUses(t *testing.T) {
	pvc := &corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "data", UID: "c1"}}
	ctrl := true
	eph := &corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "web-scratch", UID: "c2",
		OwnerReferences: []metav1.OwnerReference{{Kind: "Pod", Name: "web", UID: "p1", Controller: &ctrl}}}}
	zero := int64(0)
	now := metav1.Now()
	pod := func(mod func(*corev1.Pod)) *corev1.Pod {
		p := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "web", UID: "p1"},
			Spec: corev1.PodSpec{NodeName: "n1", Volumes: []corev1.Volume{
				{Name: "d", VolumeSource: corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "data"}}},
				{Name: "scratch", VolumeSource: corev1.VolumeSource{Ephemeral: &corev1.EphemeralVolumeSource{}}},
			}},
			Status: corev1.PodStatus{Phase: corev1.PodRunning},
		}
		if mod != nil {
			mod(p)
		}
		return p
	}
	tests := []struct {
		name string
		pod  *corev1.Pod
		pvc  *corev1.PersistentVolumeClaim
		want bool
	}{
		{"running pod", pod(nil), pvc, true},
		{"generic ephemeral volume of the pod", pod(nil), eph, true},
		{"ephemeral claim of another pod of that name", pod(func(p *corev1.Pod) { p.UID = "p2" }), eph, false},
		{"not scheduled", pod(func(p *corev1.Pod) { p.Spec.NodeName = "" }), pvc, false},
		{"succeeded", pod(func(p *corev1.Pod) { p.Status.Phase = corev1.PodSucceeded }), pvc, true},
		{"failed", pod(func(p *corev1.Pod) { p.Status.Phase = corev1.PodFailed }), pvc, true},
		{"terminating gracefully", pod(func(p *corev1.Pod) { p.DeletionTimestamp = &now }), pvc, true},
		{"force-deleted, kept by a finalizer", pod(func(p *corev1.Pod) { p.DeletionTimestamp, p.DeletionGracePeriodSeconds = &now, &zero }), pvc, true},
		{"force-deleted, its ephemeral claim", pod(func(p *corev1.Pod) { p.DeletionTimestamp, p.DeletionGracePeriodSeconds = &now, &zero }), eph, false},
		{"other namespace", pod(func(p *corev1.Pod) { p.Namespace = "other" }), pvc, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := podUses(tt.pod, tt.pvc); got != tt.want {
				t.Errorf("podUses = %v, want %v", got, tt.want)
			}
		})
	}
}
