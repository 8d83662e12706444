package localpath_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"skiff/internal/controller/localpath"
	"skiff/internal/server"
	"skiff/internal/server/servertest"
)

func TestMain(m *testing.M) { servertest.Main(m) }

const (
	annSelectedNode = "volume.kubernetes.io/selected-node"
	annProvisioner  = "volume.kubernetes.io/storage-provisioner"
)

func claim(name, class, node, size string) *corev1.PersistentVolumeClaim {
	ann := map[string]string{annProvisioner: localpath.Provisioner}
	if node != "" {
		ann[annSelectedNode] = node
	}
	return &corev1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default", Annotations: ann},
		Spec: corev1.PersistentVolumeClaimSpec{
			AccessModes:      []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			StorageClassName: ptr.To(class),
			Resources:        corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse(size)}},
		},
	}
}

func createNode(t *testing.T, env *servertest.Server, name, dir string) {
	t.Helper()
	n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name,
		Labels: map[string]string{"kubernetes.io/hostname": name + "-host"}}}
	if dir != "" {
		n.Annotations = map[string]string{localpath.StorageDirAnnotation: dir}
	}
	if _, err := env.CreateNode(context.Background(), n); err != nil {
		t.Fatal(err)
	}
}

// bind does what the PV binder would: claim and volume Bound to each other.
func bind(t *testing.T, env *servertest.Server, pvc *corev1.PersistentVolumeClaim, pv *corev1.PersistentVolume) *corev1.PersistentVolumeClaim {
	t.Helper()
	ctx := context.Background()
	pv.Status.Phase = corev1.VolumeBound
	if _, err := env.Client.CoreV1().PersistentVolumes().UpdateStatus(ctx, pv, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	cur, err := env.Client.CoreV1().PersistentVolumeClaims(pvc.Namespace).Get(ctx, pvc.Name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cur.Spec.VolumeName = pv.Name
	if cur, err = env.Client.CoreV1().PersistentVolumeClaims(pvc.Namespace).Update(ctx, cur, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	cur.Status.Phase = corev1.ClaimBound
	cur.Status.AccessModes = pv.Spec.AccessModes
	cur.Status.Capacity = pv.Spec.Capacity
	if cur, err = env.Client.CoreV1().PersistentVolumeClaims(pvc.Namespace).UpdateStatus(ctx, cur, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	return cur
}

func waitPV(t *testing.T, env *servertest.Server, name string) *corev1.PersistentVolume {
	t.Helper()
	var pv *corev1.PersistentVolume
	servertest.Wait(t, "volume "+name, func(ctx context.Context) (bool, error) {
		var err error
		pv, err = env.Client.CoreV1().PersistentVolumes().Get(ctx, name, metav1.GetOptions{})
		return err == nil, err
	})
	return pv
}

// TestProvisionBindExpandDelete provisions a claim on the default class,
// checks the PV's shape, binds it as the binder would, expands it, and
// deletes it once Released.
func TestProvisionBindExpandDelete(t *testing.T) {
	env := servertest.Start(t, nil)
	ctx := context.Background()
	rec := env.RunController(t, localpath.New, nil)
	sc, err := env.Client.StorageV1().StorageClasses().Get(ctx, "local-path", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("default storage class: %v", err)
	}
	if sc.Provisioner != localpath.Provisioner || *sc.VolumeBindingMode != storagev1.VolumeBindingWaitForFirstConsumer ||
		sc.Annotations["storageclass.kubernetes.io/is-default-class"] != "true" || !*sc.AllowVolumeExpansion {
		t.Fatalf("default storage class: %+v", sc)
	}
	createNode(t, env, "n1", "/var/lib/skiff/storage")
	pvc, err := env.Client.CoreV1().PersistentVolumeClaims("default").Create(ctx, claim("data", "local-path", "n1", "1Gi"), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	name := "pvc-" + string(pvc.UID)
	pv := waitPV(t, env, name)
	fs := corev1.PersistentVolumeFilesystem
	want := corev1.PersistentVolumeSpec{
		Capacity:                      corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")},
		PersistentVolumeSource:        corev1.PersistentVolumeSource{Local: &corev1.LocalVolumeSource{Path: "/var/lib/skiff/storage/" + name}},
		AccessModes:                   []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
		ClaimRef:                      &corev1.ObjectReference{Kind: "PersistentVolumeClaim", APIVersion: "v1", Namespace: "default", Name: "data", UID: pvc.UID},
		PersistentVolumeReclaimPolicy: corev1.PersistentVolumeReclaimDelete,
		StorageClassName:              "local-path",
		VolumeMode:                    &fs,
		NodeAffinity: &corev1.VolumeNodeAffinity{Required: &corev1.NodeSelector{NodeSelectorTerms: []corev1.NodeSelectorTerm{{
			MatchExpressions: []corev1.NodeSelectorRequirement{{Key: "kubernetes.io/hostname", Operator: corev1.NodeSelectorOpIn, Values: []string{"n1-host"}}}}}}},
	}
	got := pv.Spec.DeepCopy()
	got.ClaimRef.ResourceVersion = ""
	if diff := cmp.Diff(want, *got); diff != "" {
		t.Errorf("pv spec (-want +got):\n%s", diff)
	}
	if pv.Labels[localpath.NodeLabel] != "n1" || pv.Annotations["pv.kubernetes.io/provisioned-by"] != localpath.Provisioner {
		t.Errorf("pv labels %v annotations %v", pv.Labels, pv.Annotations)
	}
	servertest.Wait(t, "ProvisioningSucceeded", func(context.Context) (bool, error) { return rec.Has("ProvisioningSucceeded"), nil })
	if !rec.Has("Provisioning") {
		t.Errorf("no Provisioning event: %v", rec.Reasons())
	}

	pvc = bind(t, env, pvc, pv)
	pvc.Spec.Resources.Requests[corev1.ResourceStorage] = resource.MustParse("2Gi")
	if _, err := env.Client.CoreV1().PersistentVolumeClaims("default").Update(ctx, pvc, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	two := resource.MustParse("2Gi")
	servertest.Wait(t, "the claim's capacity to grow", func(ctx context.Context) (bool, error) {
		c, err := env.Client.CoreV1().PersistentVolumeClaims("default").Get(ctx, "data", metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		q := c.Status.Capacity[corev1.ResourceStorage]
		return q.Cmp(two) == 0 && len(c.Status.Conditions) == 0, fmt.Errorf("capacity %s conditions %v", q.String(), c.Status.Conditions)
	})
	pv = waitPV(t, env, name)
	if q := pv.Spec.Capacity[corev1.ResourceStorage]; q.Cmp(two) != 0 {
		t.Errorf("pv capacity %s, want 2Gi", q.String())
	}

	// Released with reclaim Delete: the PV goes.
	pv.Status.Phase = corev1.VolumeReleased
	if _, err := env.Client.CoreV1().PersistentVolumes().UpdateStatus(ctx, pv, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	servertest.Wait(t, "the released volume to be deleted", func(ctx context.Context) (bool, error) {
		pv, err := env.Client.CoreV1().PersistentVolumes().Get(ctx, name, metav1.GetOptions{})
		return apierrors.IsNotFound(err) || err == nil && pv.DeletionTimestamp != nil, err
	})
}

// TestRetainKept keeps a Released volume whose class says Retain.
func TestRetainKept(t *testing.T) {
	env := servertest.Start(t, func(c *server.Config) { c.NoDefaultStorageClass = true })
	ctx := context.Background()
	if _, err := env.Client.StorageV1().StorageClasses().Get(ctx, "local-path", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Fatalf("default class with --default-storage-class=false: %v", err)
	}
	rec := env.RunController(t, localpath.New, nil)
	retain := corev1.PersistentVolumeReclaimRetain
	if _, err := env.Client.StorageV1().StorageClasses().Create(ctx, &storagev1.StorageClass{
		ObjectMeta: metav1.ObjectMeta{Name: "keep"}, Provisioner: localpath.Provisioner, ReclaimPolicy: &retain,
		VolumeBindingMode: ptr.To(storagev1.VolumeBindingWaitForFirstConsumer)}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	createNode(t, env, "n1", "/data/storage")
	pvc, err := env.Client.CoreV1().PersistentVolumeClaims("default").Create(ctx, claim("kept", "keep", "n1", "1Mi"), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	pv := waitPV(t, env, "pvc-"+string(pvc.UID))
	if pv.Spec.PersistentVolumeReclaimPolicy != corev1.PersistentVolumeReclaimRetain {
		t.Fatalf("reclaim policy %s", pv.Spec.PersistentVolumeReclaimPolicy)
	}
	bind(t, env, pvc, pv)
	pv = waitPV(t, env, pv.Name)
	pv.Status.Phase = corev1.VolumeReleased
	if pv, err = env.Client.CoreV1().PersistentVolumes().UpdateStatus(ctx, pv, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	// A later claim provisioned after the released one shows that the
	// controller has handled the release: by then the volume must remain.
	pvc2, err := env.Client.CoreV1().PersistentVolumeClaims("default").Create(ctx, claim("later", "keep", "n1", "1Mi"), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	waitPV(t, env, "pvc-"+string(pvc2.UID))
	if got, err := env.Client.CoreV1().PersistentVolumes().Get(ctx, pv.Name, metav1.GetOptions{}); err != nil || got.DeletionTimestamp != nil {
		t.Fatalf("retained volume: %v %v", err, got)
	}
	_ = rec
}

// TestProvisioningFailed reports claims local-path cannot provision.
func TestProvisioningFailed(t *testing.T) {
	env := servertest.Start(t, nil)
	ctx := context.Background()
	rec := env.RunController(t, localpath.New, nil)
	createNode(t, env, "nodir", "")
	createNode(t, env, "n1", "/s")
	block := claim("block", "local-path", "n1", "1Mi")
	block.Spec.VolumeMode = ptr.To(corev1.PersistentVolumeBlock)
	tests := []struct {
		name string
		pvc  *corev1.PersistentVolumeClaim
	}{
		{"block mode", block},
		{"no selected node", claim("nonode", "local-path", "", "1Mi")},
		{"node without storage dir", claim("nodir", "local-path", "nodir", "1Mi")},
		{"missing class", claim("noclass", "absent", "n1", "1Mi")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := countFailed(rec.Reasons())
			pvc, err := env.Client.CoreV1().PersistentVolumeClaims("default").Create(ctx, tt.pvc, metav1.CreateOptions{})
			if err != nil {
				t.Fatal(err)
			}
			servertest.Wait(t, "ProvisioningFailed", func(context.Context) (bool, error) {
				return countFailed(rec.Reasons()) > before, nil
			})
			if _, err := env.Client.CoreV1().PersistentVolumes().Get(ctx, "pvc-"+string(pvc.UID), metav1.GetOptions{}); !apierrors.IsNotFound(err) {
				t.Errorf("volume created for %s: %v", tt.name, err)
			}
		})
	}
}

func countFailed(reasons []string) int {
	n := 0
	for _, r := range reasons {
		if r == "ProvisioningFailed" {
			n++
		}
	}
	return n
}
