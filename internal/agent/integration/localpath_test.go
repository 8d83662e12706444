package integration

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"

	"skiff/internal/agent"
	"skiff/internal/agent/sim"
	"skiff/internal/server/servertest"
)

// localPathVolume is a PV as the local-path provisioner makes it for
// node, bound (by the test) to claim default/<claim>.
func localPathVolume(name, node, storageDir, claim string) *corev1.PersistentVolume {
	return &corev1.PersistentVolume{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{agent.LocalPathNodeLabel: node},
			Annotations: map[string]string{"pv.kubernetes.io/provisioned-by": "skiff.io/local-path"}},
		Spec: corev1.PersistentVolumeSpec{
			Capacity:                      corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Mi")},
			AccessModes:                   []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			PersistentVolumeReclaimPolicy: corev1.PersistentVolumeReclaimDelete,
			PersistentVolumeSource:        corev1.PersistentVolumeSource{Local: &corev1.LocalVolumeSource{Path: filepath.Join(storageDir, name)}},
			ClaimRef:                      &corev1.ObjectReference{Kind: "PersistentVolumeClaim", Namespace: "default", Name: claim},
			NodeAffinity: &corev1.VolumeNodeAffinity{Required: &corev1.NodeSelector{NodeSelectorTerms: []corev1.NodeSelectorTerm{{
				MatchExpressions: []corev1.NodeSelectorRequirement{{Key: corev1.LabelHostname, Operator: corev1.NodeSelectorOpIn, Values: []string{node}}}}}}},
		},
	}
}

// bindClaim creates claim default/<name> bound to volume, as the PV
// binder would.
func bindClaim(t *testing.T, client kubernetes.Interface, name, volume string) {
	t.Helper()
	ctx := context.Background()
	pvc, err := client.CoreV1().PersistentVolumeClaims("default").Create(ctx, &corev1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default"},
		Spec: corev1.PersistentVolumeClaimSpec{
			AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce}, VolumeName: volume, StorageClassName: ptr.To(""),
			Resources: corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Mi")}},
		}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	pvc.Status.Phase = corev1.ClaimBound
	pvc.Status.Capacity = corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Mi")}
	if _, err := client.CoreV1().PersistentVolumeClaims("default").UpdateStatus(ctx, pvc, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
}

// claimPod runs one container mounting claim at /data.
func claimPod(name, node, claim string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default"},
		Spec: corev1.PodSpec{
			NodeName: node, TerminationGracePeriodSeconds: ptr.To(int64(1)), AutomountServiceAccountToken: ptr.To(false),
			Containers: []corev1.Container{{Name: "main", Image: "busybox:1",
				VolumeMounts: []corev1.VolumeMount{{Name: "data", MountPath: "/data"}}}},
			Volumes: []corev1.Volume{{Name: "data", VolumeSource: corev1.VolumeSource{
				PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: claim}}}},
		},
	}
}

// TestLocalPathDirectories runs an agent with a storage dir on the real
// filesystem: it publishes the dir on its Node, creates the directory of
// a PV labelled for it (0777), lets a pod mount it once its claim is
// bound, keeps directories it did not create, and removes the PV's
// directory when the PV is deleted.
func TestLocalPathDirectories(t *testing.T) {
	client := servertest.Start(t, nil).Client
	ctx := context.Background()
	storage := filepath.Join(t.TempDir(), "storage")
	rt, err := sim.New(sim.Config{})
	if err != nil {
		t.Fatal(err)
	}
	a, err := agent.New(agent.Config{
		NodeName: "node-lp", Client: client, Runtime: rt, NodeIPs: []string{"192.0.2.12"},
		LeaseDuration: 2 * time.Second, LeaseRenewInterval: 200 * time.Millisecond,
		RootDir: t.TempDir(), StorageDir: storage, Events: true, Logger: servertest.Logger(),
	})
	if err != nil {
		t.Fatal(err)
	}
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- a.Run(runCtx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("agent run: %v", err)
		}
	})
	servertest.Wait(t, "the node's storage-dir annotation", func(ctx context.Context) (bool, error) {
		n, err := client.CoreV1().Nodes().Get(ctx, "node-lp", metav1.GetOptions{})
		return err == nil && n.Annotations[agent.StorageDirAnnotation] == storage, err
	})
	// Someone else's directory in the storage dir is never touched.
	foreign := filepath.Join(storage, "pvc-foreign")
	if err := os.MkdirAll(foreign, 0o755); err != nil {
		t.Fatal(err)
	}

	// A pod whose claim is not bound waits with FailedMount.
	if _, err := client.CoreV1().PersistentVolumeClaims("default").Create(ctx, &corev1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{Name: "unbound", Namespace: "default"},
		Spec: corev1.PersistentVolumeClaimSpec{AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			Resources: corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Mi")}}},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	createPod(t, client, claimPod("waits", "node-lp", "unbound"))
	servertest.Wait(t, "a FailedMount event for the unbound claim", func(ctx context.Context) (bool, error) {
		evs, err := client.CoreV1().Events("default").List(ctx, metav1.ListOptions{FieldSelector: "involvedObject.name=waits"})
		if err != nil {
			return false, err
		}
		for _, e := range evs.Items {
			if e.Reason == "FailedMount" && strings.Contains(e.Message, "PVC is not bound") {
				return true, nil
			}
		}
		return false, nil
	})

	pv, err := client.CoreV1().PersistentVolumes().Create(ctx, localPathVolume("pvc-one", "node-lp", storage, "one"), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(storage, "pvc-one")
	servertest.Wait(t, "the volume's directory", func(context.Context) (bool, error) {
		st, err := os.Stat(dir)
		return err == nil && st.Mode().Perm() == 0o777 && st.IsDir(), err
	})
	bindClaim(t, client, "one", pv.Name)
	createPod(t, client, claimPod("uses", "node-lp", "one"))
	waitPod(t, client, "uses", "Running", func(p *corev1.Pod) bool { return p.Status.Phase == corev1.PodRunning })

	if err := client.CoreV1().PersistentVolumes().Delete(ctx, pv.Name, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	// No pv-protection controller runs here: let the volume go as it
	// would once released.
	if _, err := client.CoreV1().PersistentVolumes().Patch(ctx, pv.Name, types.MergePatchType,
		[]byte(`{"metadata":{"finalizers":null}}`), metav1.PatchOptions{}); err != nil && !apierrors.IsNotFound(err) {
		t.Fatal(err)
	}
	servertest.Wait(t, "the volume's directory to be removed", func(ctx context.Context) (bool, error) {
		_, err := client.CoreV1().PersistentVolumes().Get(ctx, pv.Name, metav1.GetOptions{})
		_, serr := os.Stat(dir)
		return apierrors.IsNotFound(err) && os.IsNotExist(serr), serr
	})
	if _, err := os.Stat(foreign); err != nil {
		t.Errorf("a directory the agent did not create was touched: %v", err)
	}
}

// TestLocalPathUsageExceeded runs an agent whose storage dir cannot bound
// a volume's size (a plain temp dir) and measures usage often: a 1 MiB
// volume holding a 2 MiB file gets a VolumeCapacityExceeded event on its
// claim, after the VolumeCapacityNotEnforced one.
func TestLocalPathUsageExceeded(t *testing.T) {
	storage := filepath.Join(t.TempDir(), "storage")
	var st unix.Statfs_t
	if err := unix.Statfs(filepath.Dir(storage), &st); err != nil {
		t.Fatal(err)
	}
	if st.Type == unix.BTRFS_SUPER_MAGIC {
		t.Skip("the temp dir is on btrfs, which bounds the volume")
	}
	client := servertest.Start(t, nil).Client
	ctx := context.Background()
	rt, err := sim.New(sim.Config{})
	if err != nil {
		t.Fatal(err)
	}
	a, err := agent.New(agent.Config{
		NodeName: "node-use", Client: client, Runtime: rt, NodeIPs: []string{"192.0.2.13"},
		LeaseDuration: 2 * time.Second, LeaseRenewInterval: 200 * time.Millisecond,
		RootDir: t.TempDir(), StorageDir: storage, VolumeUsageInterval: 50 * time.Millisecond,
		Events: true, Logger: servertest.Logger(),
	})
	if err != nil {
		t.Fatal(err)
	}
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- a.Run(runCtx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("agent run: %v", err)
		}
	})

	pv, err := client.CoreV1().PersistentVolumes().Create(ctx, localPathVolume("pvc-big", "node-use", storage, "big"), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	bindClaim(t, client, "big", pv.Name)
	claimEvent := func(reason, text string) func(context.Context) (bool, error) {
		return func(ctx context.Context) (bool, error) {
			evs, err := client.CoreV1().Events("default").List(ctx, metav1.ListOptions{FieldSelector: "involvedObject.name=big"})
			if err != nil {
				return false, err
			}
			for _, e := range evs.Items {
				if e.Reason == reason && e.Type == corev1.EventTypeWarning && e.InvolvedObject.Kind == "PersistentVolumeClaim" && strings.Contains(e.Message, text) {
					return true, nil
				}
			}
			return false, nil
		}
	}
	servertest.Wait(t, "a VolumeCapacityNotEnforced event on the claim", claimEvent(agent.EventVolumeCapacityNotEnforced, "usage is checked"))

	f, err := os.Create(filepath.Join(storage, pv.Name, "big"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write(make([]byte, 2<<20)); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	servertest.Wait(t, "a VolumeCapacityExceeded event on the claim", claimEvent(agent.EventVolumeCapacityExceeded,
		"volume pvc-big uses 2.0Mi of its 1Mi capacity; the filesystem at "+storage+" cannot enforce it"))
}
