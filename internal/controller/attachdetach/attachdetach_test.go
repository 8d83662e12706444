package attachdetach_test

import (
	"context"
	"encoding/json"
	"slices"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"

	"skiff/internal/controller/attachdetach"
	"skiff/internal/server"
	"skiff/internal/server/servertest"
)

// TestAttachDetach runs the controller in the server's controller manager,
// as its own ServiceAccount with its bootstrap role: a pod on a node with
// a claim bound to a CSI volume gets the volume's VolumeAttachment, the
// node lists it in volumesAttached once attached, and it goes with the pod.
func TestAttachDetach(t *testing.T) {
	s := servertest.Start(t, func(cfg *server.Config) {
		cfg.Disable = []string{"scheduler"}
		for _, name := range server.ControllerNames() {
			if name != "attachdetach" {
				cfg.Disable = append(cfg.Disable, name)
			}
		}
	})
	c := s.Client
	ctx := context.Background()
	if _, err := s.CreateNode(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n1"}}); err != nil {
		t.Fatal(err)
	}
	// No service account controller runs: the pod's account by hand.
	if _, err := c.CoreV1().ServiceAccounts("default").Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "default"}}, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	pv := &corev1.PersistentVolume{
		ObjectMeta: metav1.ObjectMeta{Name: "pv-1"},
		Spec: corev1.PersistentVolumeSpec{
			Capacity:    corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")},
			AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			PersistentVolumeSource: corev1.PersistentVolumeSource{CSI: &corev1.CSIPersistentVolumeSource{
				Driver: "disk.csi.example", VolumeHandle: "disk-1"}},
			ClaimRef: &corev1.ObjectReference{Namespace: "default", Name: "claim"},
		},
	}
	if _, err := c.CoreV1().PersistentVolumes().Create(ctx, pv, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.CoreV1().PersistentVolumeClaims("default").Create(ctx, &corev1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{Name: "claim", Namespace: "default"},
		Spec: corev1.PersistentVolumeClaimSpec{
			AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			Resources:   corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")}},
			VolumeName:  "pv-1",
		},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.CoreV1().Pods("default").Create(ctx, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "default"},
		Spec: corev1.PodSpec{
			NodeName:   "n1",
			Containers: []corev1.Container{{Name: "c", Image: "busybox"}},
			Volumes: []corev1.Volume{{Name: "v", VolumeSource: corev1.VolumeSource{
				PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "claim"}}}},
		},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	name := attachdetach.AttachmentName("disk-1", "disk.csi.example", "n1")
	servertest.Wait(t, "the VolumeAttachment", func(ctx context.Context) (bool, error) {
		va, err := c.StorageV1().VolumeAttachments().Get(ctx, name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return false, nil
		}
		return err == nil && va.Spec.Attacher == "disk.csi.example" && va.Spec.NodeName == "n1" &&
			ptr.Deref(va.Spec.Source.PersistentVolumeName, "") == "pv-1", err
	})
	patch, _ := json.Marshal(map[string]any{"status": map[string]any{"attached": true}})
	if _, err := c.StorageV1().VolumeAttachments().Patch(ctx, name, types.MergePatchType, patch, metav1.PatchOptions{}, "status"); err != nil {
		t.Fatal(err)
	}
	want := attachdetach.UniqueVolumeName("disk.csi.example", "disk-1")
	servertest.Wait(t, "the node's volumesAttached", func(ctx context.Context) (bool, error) {
		n, err := c.CoreV1().Nodes().Get(ctx, "n1", metav1.GetOptions{})
		return err == nil && slices.ContainsFunc(n.Status.VolumesAttached, func(v corev1.AttachedVolume) bool { return v.Name == want }), err
	})

	if err := c.CoreV1().Pods("default").Delete(ctx, "p", metav1.DeleteOptions{GracePeriodSeconds: ptr.To(int64(0))}); err != nil {
		t.Fatal(err)
	}
	servertest.Wait(t, "the VolumeAttachment deleted and the node's volumesAttached empty", func(ctx context.Context) (bool, error) {
		_, err := c.StorageV1().VolumeAttachments().Get(ctx, name, metav1.GetOptions{})
		if !apierrors.IsNotFound(err) {
			return false, nil
		}
		n, err := c.CoreV1().Nodes().Get(ctx, "n1", metav1.GetOptions{})
		return err == nil && len(n.Status.VolumesAttached) == 0, err
	})
}
