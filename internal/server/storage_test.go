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
	"skiff/internal/testobj"
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

// TestWaitForFirstConsumerTwoNodes is the default class on two nodes with
// the real scheduler and controllers: a claim is provisioned by local-path
// on the node its first pod is scheduled to, and a second pod using the
// claim lands on the same node although the scheduler would prefer the
// other.
func TestWaitForFirstConsumerTwoNodes(t *testing.T) {
	s := servertest.Start(t, func(cfg *server.Config) { cfg.Disable = nil })
	ctx := context.Background()
	for _, name := range []string{"left", "right"} {
		n := testobj.Node(name).Capacity("4", "8Gi").Ready().Obj()
		n.Labels = map[string]string{corev1.LabelHostname: name}
		// What each node's agent publishes at registration.
		n.Annotations = map[string]string{"skiff.io/storage-dir": "/srv/" + name + "/storage"}
		if _, err := s.CreateNode(ctx, n); err != nil {
			t.Fatal(err)
		}
	}
	s.StartKubelet(t, "")
	if _, err := s.Client.CoreV1().PersistentVolumeClaims("default").Create(ctx, &corev1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{Name: "data"},
		Spec: corev1.PersistentVolumeClaimSpec{
			AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			Resources:   corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")}},
		},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	pod := func(name, cpu string) {
		t.Helper()
		p := testobj.Pod(name).Obj()
		p.Namespace = "default"
		p.Spec.Containers[0].Resources.Requests = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(cpu)}
		p.Spec.Volumes = []corev1.Volume{{Name: "d", VolumeSource: corev1.VolumeSource{
			PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "data"}}}}
		if _, err := s.Client.CoreV1().Pods("default").Create(ctx, p, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	nodeOf := func(name string) string {
		t.Helper()
		var node string
		servertest.Wait(t, name+" to be scheduled", func(ctx context.Context) (bool, error) {
			p, err := s.Client.CoreV1().Pods("default").Get(ctx, name, metav1.GetOptions{})
			if err != nil {
				return false, err
			}
			node = p.Spec.NodeName
			return node != "", nil
		})
		return node
	}
	pod("first", "3")
	first := nodeOf("first")
	// The scheduler binds the pod once the claim's binding is complete
	// (its volumeName and bind-completed annotation); the phase follows.
	var c *corev1.PersistentVolumeClaim
	servertest.Wait(t, "the claim Bound", func(ctx context.Context) (bool, error) {
		var err error
		c, err = s.Client.CoreV1().PersistentVolumeClaims("default").Get(ctx, "data", metav1.GetOptions{})
		return err == nil && c.Status.Phase == corev1.ClaimBound, err
	})
	if c.Annotations["volume.kubernetes.io/selected-node"] != first {
		t.Fatalf("claim provisioned for node %q, want %s", c.Annotations["volume.kubernetes.io/selected-node"], first)
	}
	pv, err := s.Client.CoreV1().PersistentVolumes().Get(ctx, c.Spec.VolumeName, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if pv.Spec.Local == nil || pv.Spec.Local.Path != "/srv/"+first+"/storage/"+pv.Name || pv.Labels["skiff.io/local-path-node"] != first {
		t.Errorf("volume %s is not a local-path volume on %s: %+v %v", pv.Name, first, pv.Spec.Local, pv.Labels)
	}

	// The second pod would rather go to the other, idle node (the
	// scheduler spreads by free CPU), but its claim's volume is on the
	// first one. (The test kubelet binds only pods that require a node, so
	// the scheduler places both.)
	pod("second", "500m")
	if got := nodeOf("second"); got != first {
		t.Errorf("second pod on %s, want %s with its volume", got, first)
	}
}
