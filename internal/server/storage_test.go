package server_test

import (
	"context"
	"slices"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"skiff/internal/server"
	"skiff/internal/server/servertest"
)

// TestStorageControllers runs the PV binder and the protection
// controllers in the controller manager, as their ServiceAccounts: a
// claim binds, its deletion releases the volume, and the released volume
// can be deleted.
func TestStorageControllers(t *testing.T) {
	run := []string{"persistentvolume-binder", "persistentvolume-protection", "persistentvolumeclaim-protection"}
	s := servertest.Start(t, func(cfg *server.Config) {
		cfg.Disable = []string{"scheduler"}
		for _, name := range server.ControllerNames() {
			if !slices.Contains(run, name) {
				cfg.Disable = append(cfg.Disable, name)
			}
		}
	})
	ctx := context.Background()
	empty := ""
	if _, err := s.Client.CoreV1().PersistentVolumes().Create(ctx, &corev1.PersistentVolume{
		ObjectMeta: metav1.ObjectMeta{Name: "disk"},
		Spec: corev1.PersistentVolumeSpec{
			Capacity:                      corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")},
			AccessModes:                   []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			PersistentVolumeReclaimPolicy: corev1.PersistentVolumeReclaimRetain,
			PersistentVolumeSource:        corev1.PersistentVolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/data/disk"}},
		},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Client.CoreV1().PersistentVolumeClaims("default").Create(ctx, &corev1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{Name: "data"},
		Spec: corev1.PersistentVolumeClaimSpec{
			StorageClassName: &empty,
			AccessModes:      []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			Resources:        corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")}},
		},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	servertest.Wait(t, "the claim to bind", func(ctx context.Context) (bool, error) {
		c, err := s.Client.CoreV1().PersistentVolumeClaims("default").Get(ctx, "data", metav1.GetOptions{})
		return err == nil && c.Status.Phase == corev1.ClaimBound && c.Spec.VolumeName == "disk", err
	})
	if err := s.Client.CoreV1().PersistentVolumeClaims("default").Delete(ctx, "data", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	servertest.Wait(t, "the volume to be released", func(ctx context.Context) (bool, error) {
		v, err := s.Client.CoreV1().PersistentVolumes().Get(ctx, "disk", metav1.GetOptions{})
		return err == nil && v.Status.Phase == corev1.VolumeReleased, err
	})
	if err := s.Client.CoreV1().PersistentVolumes().Delete(ctx, "disk", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	servertest.Wait(t, "the released volume to go", func(ctx context.Context) (bool, error) {
		_, err := s.Client.CoreV1().PersistentVolumes().Get(ctx, "disk", metav1.GetOptions{})
		return apierrors.IsNotFound(err), nil
	})
}
