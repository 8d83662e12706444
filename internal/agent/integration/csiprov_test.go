package integration

import (
	"context"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"skiff/internal/agent/csi/csitest"
	"skiff/internal/server/servertest"
)

// TestCSIProvisioning follows a dynamically provisioned CSI volume through
// its life, each step done by the component that does it in a cluster: a
// claim of a class naming the test driver is annotated for its provisioner
// by the PV binder, provisioned by bin/csi-provisioner through
// CreateVolume (in the zone of the node the claim was scheduled to, with
// the capacity the driver reports), bound by the binder, attached by
// bin/csi-attacher once the attach/detach controller asks, staged and
// published by the agent; the pod sees what is in the volume. Deleting
// the pod unpublishes, unstages and detaches it; deleting the claim
// releases the volume, which the provisioner deletes through DeleteVolume,
// and the PV goes.
func TestCSIProvisioning(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("bind mounts need root")
	}
	bins := os.Getenv("SKIFF_BIN_DIR")
	for _, b := range []string{"csi-provisioner", "csi-attacher"} {
		if _, err := os.Stat(filepath.Join(bins, b)); bins == "" || err != nil {
			t.Skipf("no %s in SKIFF_BIN_DIR %q (make csi-provisioner csi-attacher builds them; make test sets it)", b, bins)
		}
	}

	s := servertest.Start(t, nil)
	admin := s.Client
	ctx := context.Background()
	root := t.TempDir()
	unmountUnder(t, root)
	m, _ := runCSIAgent(t, s.NodeClient(t, csiNode), csiNode, root)
	for _, c := range []string{"persistentvolume-binder", "attachdetach", "persistentvolume-protection", "persistentvolumeclaim-protection"} {
		s.RunBuiltin(t, c)
	}

	drvDir := t.TempDir()
	unmountUnder(t, drvDir)
	// The driver rounds volumes up to 16Mi: the PV must say what it got.
	drv := csitest.Start(t, drvDir, csitest.Config{Name: csiDriver, NodeID: "test-node-1",
		Topology: map[string]string{zoneKey: "z1"}, Stage: true, Capacity: 16 << 20})
	drv.Register(t, m.Layout().RegistryDir())
	servertest.Wait(t, "the driver in the CSINode", func(ctx context.Context) (bool, error) {
		cn, err := admin.StorageV1().CSINodes().Get(ctx, csiNode, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return false, nil
		}
		return err == nil && len(cn.Spec.Drivers) == 1 && cn.Spec.Drivers[0].Name == csiDriver, err
	})
	if _, err := admin.StorageV1().CSIDrivers().Create(ctx, &storagev1.CSIDriver{
		ObjectMeta: metav1.ObjectMeta{Name: csiDriver},
		Spec:       storagev1.CSIDriverSpec{AttachRequired: ptr.To(true)},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	kubeconfig := "--kubeconfig=" + s.AdminKubeconfig()
	runSidecar(t, filepath.Join(bins, "csi-attacher"), "--csi-address="+drv.Endpoint, kubeconfig,
		"--leader-election=false", "--timeout=30s", "--v=2")
	runSidecar(t, filepath.Join(bins, "csi-provisioner"), "--csi-address="+drv.Endpoint, kubeconfig, "--timeout=30s")

	if _, err := admin.StorageV1().StorageClasses().Create(ctx, &storagev1.StorageClass{
		ObjectMeta:        metav1.ObjectMeta{Name: "csi-test"},
		Provisioner:       csiDriver,
		Parameters:        map[string]string{"flavour": "plain", "csi.storage.k8s.io/fstype": "ext4"},
		ReclaimPolicy:     ptr.To(corev1.PersistentVolumeReclaimDelete),
		VolumeBindingMode: ptr.To(storagev1.VolumeBindingWaitForFirstConsumer),
		MountOptions:      []string{"noatime"},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	// No scheduler runs: the claim carries the node the scheduler's
	// VolumeBinding would have chosen for the pod below.
	claim, err := admin.CoreV1().PersistentVolumeClaims("default").Create(ctx, &corev1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{Name: "provisioned", Namespace: "default",
			Annotations: map[string]string{"volume.kubernetes.io/selected-node": csiNode}},
		Spec: corev1.PersistentVolumeClaimSpec{
			StorageClassName: ptr.To("csi-test"),
			AccessModes:      []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			Resources:        corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("10Mi")}},
		},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	handle := "pvc-" + string(claim.UID)

	servertest.Wait(t, "the claim bound to a provisioned volume", func(ctx context.Context) (bool, error) {
		c, err := admin.CoreV1().PersistentVolumeClaims("default").Get(ctx, "provisioned", metav1.GetOptions{})
		return err == nil && c.Status.Phase == corev1.ClaimBound && c.Spec.VolumeName != "", err
	})
	creates := drv.CallsOf("CreateVolume")
	if len(creates) == 0 {
		t.Fatal("bound without a CreateVolume call")
	}
	for _, c := range creates {
		if c.Volume != handle || c.Capacity != 10<<20 || !maps.Equal(c.Params, map[string]string{"flavour": "plain"}) ||
			!maps.Equal(c.Topology, map[string]string{zoneKey: "z1"}) {
			t.Errorf("CreateVolume = %+v; want %s, 10Mi, the class's driver parameters and the selected node's zone", c, handle)
		}
	}
	pv, err := admin.CoreV1().PersistentVolumes().Get(ctx, handle, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("the provisioned PV: %v", err)
	}
	wantSpec := corev1.PersistentVolumeSpec{
		Capacity:                      corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("16Mi")},
		AccessModes:                   []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
		PersistentVolumeReclaimPolicy: corev1.PersistentVolumeReclaimDelete,
		StorageClassName:              "csi-test",
		MountOptions:                  []string{"noatime"},
		VolumeMode:                    ptr.To(corev1.PersistentVolumeFilesystem),
		PersistentVolumeSource: corev1.PersistentVolumeSource{CSI: &corev1.CSIPersistentVolumeSource{
			Driver: csiDriver, VolumeHandle: handle, FSType: "ext4",
			VolumeAttributes: map[string]string{"csi.test.skiff.io/created-by": "csitest"},
		}},
		NodeAffinity: &corev1.VolumeNodeAffinity{Required: &corev1.NodeSelector{NodeSelectorTerms: []corev1.NodeSelectorTerm{{
			MatchExpressions: []corev1.NodeSelectorRequirement{{Key: zoneKey, Operator: corev1.NodeSelectorOpIn, Values: []string{"z1"}}},
		}}}},
	}
	gotSpec := pv.Spec
	gotSpec.ClaimRef = nil
	if diff := cmp.Diff(wantSpec, gotSpec); diff != "" {
		t.Errorf("provisioned PV spec (-want +got):\n%s", diff)
	}
	if ref := pv.Spec.ClaimRef; ref == nil || ref.Name != "provisioned" || ref.UID != claim.UID {
		t.Errorf("PV claimRef = %+v, want the claim", ref)
	}
	if got := pv.Annotations["pv.kubernetes.io/provisioned-by"]; got != csiDriver {
		t.Errorf("PV provisioned-by = %q, want %s", got, csiDriver)
	}

	if err := os.WriteFile(filepath.Join(drv.VolumeDir(handle), "hello.txt"), []byte("provisioned"), 0o644); err != nil {
		t.Fatalf("the driver's volume folder: %v", err)
	}
	p := createPod(t, admin, csiPod("consumer", corev1.VolumeSource{
		PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "provisioned"}}))
	waitPod(t, admin, "consumer", "Running", func(p *corev1.Pod) bool { return p.Status.Phase == corev1.PodRunning })
	vaName := attachmentName(handle, csiDriver, csiNode)
	va, err := admin.StorageV1().VolumeAttachments().Get(ctx, vaName, metav1.GetOptions{})
	if err != nil || !va.Status.Attached {
		t.Errorf("VolumeAttachment %s = %+v, %v; want attached", vaName, va, err)
	}
	target := filepath.Join(root, "pods", string(p.UID), "volumes/kubernetes.io~csi/data/mount")
	if b, err := os.ReadFile(filepath.Join(target, "hello.txt")); err != nil || string(b) != "provisioned" {
		t.Errorf("the pod's volume's hello.txt = %q, %v; want the provisioned volume's content", b, err)
	}
	wantCalls := []string{"ControllerPublishVolume", "NodeStageVolume", "NodePublishVolume"}
	if got := volumeCalls(drv, handle, "CreateVolume"); !slices.Equal(got, wantCalls) {
		t.Errorf("driver calls for the volume after CreateVolume = %v, want %v", got, wantCalls)
	}

	if err := admin.CoreV1().Pods("default").Delete(ctx, "consumer", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	servertest.Wait(t, "the VolumeAttachment deleted", func(ctx context.Context) (bool, error) {
		_, err := admin.StorageV1().VolumeAttachments().Get(ctx, vaName, metav1.GetOptions{})
		return apierrors.IsNotFound(err), nil
	})
	servertest.Wait(t, "the volume unstaged", func(context.Context) (bool, error) {
		return len(drv.CallsOf("NodeUnstageVolume")) == 1, nil
	})
	// Unpublishing comes first; then unstaging and detaching, in either
	// order.
	got := volumeCalls(drv, handle, "CreateVolume")
	if len(got) > 4 {
		slices.Sort(got[4:])
	}
	if want := append(wantCalls, "NodeUnpublishVolume", "ControllerUnpublishVolume", "NodeUnstageVolume"); !slices.Equal(got, want) {
		t.Errorf("driver calls for the volume after the pod went = %v, want %v", got, want)
	}

	if err := admin.CoreV1().PersistentVolumeClaims("default").Delete(ctx, "provisioned", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	servertest.Wait(t, "the PV deleted", func(ctx context.Context) (bool, error) {
		_, err := admin.CoreV1().PersistentVolumes().Get(ctx, handle, metav1.GetOptions{})
		return apierrors.IsNotFound(err), nil
	})
	if d := drv.CallsOf("DeleteVolume"); len(d) == 0 || d[len(d)-1].Volume != handle {
		t.Errorf("DeleteVolume calls = %+v, want %s's", d, handle)
	}
	if _, err := os.Stat(drv.VolumeDir(handle)); !os.IsNotExist(err) {
		t.Errorf("the volume's folder after deletion: %v, want gone", err)
	}
}

// volumeCalls lists the methods of the driver's calls for a volume after
// its last call of method after, a repeated call once: the attacher may
// call ControllerPublishVolume again for an attached volume, which the
// CSI spec makes idempotent.
func volumeCalls(drv *csitest.Driver, volume, after string) []string {
	var out []string
	for _, c := range drv.Calls() {
		switch {
		case c.Volume != volume:
		case c.Method == after:
			out = nil
		default:
			out = append(out, c.Method)
		}
	}
	return slices.Compact(out)
}
