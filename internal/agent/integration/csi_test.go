package integration

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"

	"skiff/internal/agent"
	"skiff/internal/agent/csi"
	"skiff/internal/agent/csi/csitest"
	"skiff/internal/agent/sim"
	"skiff/internal/server/servertest"
)

const (
	csiNode   = "node-csi"
	csiDriver = "csi.test.skiff.io"
	zoneKey   = "topology.csi.test.skiff.io/zone"
)

// unmountUnder lazily unmounts whatever a failed test left mounted below
// dir, so that its removal cannot reach into a mounted source.
func unmountUnder(t *testing.T, dir string) {
	t.Cleanup(func() {
		b, err := os.ReadFile("/proc/self/mountinfo")
		if err != nil {
			return
		}
		var mounts []string
		for _, line := range strings.Split(string(b), "\n") {
			f := strings.Fields(line)
			if len(f) > 4 && strings.HasPrefix(f[4], dir+"/") {
				mounts = append(mounts, f[4])
			}
		}
		// Deepest first.
		slices.SortFunc(mounts, func(a, b string) int { return len(b) - len(a) })
		for _, m := range mounts {
			t.Errorf("left mounted: %s", m)
			_ = syscall.Unmount(m, syscall.MNT_DETACH)
		}
	})
}

// runCSIAgent runs, as node name, the CSI manager and an agent on the sim
// runtime with volumes under root; stop stops both (the test's end does
// too).
func runCSIAgent(t *testing.T, client kubernetes.Interface, name, root string) (m *csi.Manager, stop func()) {
	t.Helper()
	m, err := csi.New(csi.Config{NodeName: name, Client: client, RootDir: root,
		ScanInterval: 100 * time.Millisecond, Logger: servertest.Logger()})
	if err != nil {
		t.Fatal(err)
	}
	rt, err := sim.New(sim.Config{})
	if err != nil {
		t.Fatal(err)
	}
	a, err := agent.New(agent.Config{
		NodeName: name, Client: client, Runtime: rt,
		NodeIPs:              []string{"192.0.2.12"},
		LeaseDuration:        2 * time.Second,
		LeaseRenewInterval:   200 * time.Millisecond,
		HousekeepingInterval: 200 * time.Millisecond,
		RootDir:              root,
		CSI:                  m,
		Logger:               servertest.Logger(),
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 2)
	go func() { done <- a.Run(ctx) }()
	go func() { done <- m.Run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			for range 2 {
				if err := <-done; err != nil {
					t.Errorf("run: %v", err)
				}
			}
		})
	}
	t.Cleanup(stop)
	return m, stop
}

// csiPod mounts claim (or, with inline, an inline csi volume) at /data.
func csiPod(name string, vol corev1.VolumeSource) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default"},
		Spec: corev1.PodSpec{
			NodeName:                      csiNode,
			TerminationGracePeriodSeconds: ptr.To(int64(1)),
			AutomountServiceAccountToken:  ptr.To(false),
			Containers: []corev1.Container{{Name: "main", Image: "busybox:1",
				VolumeMounts: []corev1.VolumeMount{{Name: "data", MountPath: "/data"}}}},
			Volumes: []corev1.Volume{{Name: "data", VolumeSource: vol}},
		},
	}
}

// createBoundClaim creates a CSI PV of handle with its content in source
// and a claim bound to it, as the PV binder would bind them.
func createBoundClaim(t *testing.T, client kubernetes.Interface, claim, handle, source string) {
	t.Helper()
	ctx := context.Background()
	pv := &corev1.PersistentVolume{
		ObjectMeta: metav1.ObjectMeta{Name: "pv-" + claim},
		Spec: corev1.PersistentVolumeSpec{
			Capacity:                      corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")},
			AccessModes:                   []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			PersistentVolumeReclaimPolicy: corev1.PersistentVolumeReclaimRetain,
			MountOptions:                  []string{"noatime"},
			PersistentVolumeSource: corev1.PersistentVolumeSource{CSI: &corev1.CSIPersistentVolumeSource{
				Driver: csiDriver, VolumeHandle: handle, FSType: "ext4",
				VolumeAttributes:   map[string]string{"source": source},
				NodeStageSecretRef: &corev1.SecretReference{Namespace: "default", Name: "stage-secret"},
			}},
			ClaimRef: &corev1.ObjectReference{Kind: "PersistentVolumeClaim", APIVersion: "v1", Namespace: "default", Name: claim},
		},
	}
	if _, err := client.CoreV1().PersistentVolumes().Create(ctx, pv, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	pvc := &corev1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{Name: claim, Namespace: "default"},
		Spec: corev1.PersistentVolumeClaimSpec{
			AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			Resources:   corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")}},
			VolumeName:  pv.Name,
		},
	}
	created, err := client.CoreV1().PersistentVolumeClaims("default").Create(ctx, pvc, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	created.Status.Phase = corev1.ClaimBound
	created.Status.AccessModes = pvc.Spec.AccessModes
	created.Status.Capacity = pvc.Spec.Resources.Requests
	if _, err := client.CoreV1().PersistentVolumeClaims("default").UpdateStatus(ctx, created, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	got, err := client.CoreV1().PersistentVolumes().Get(ctx, pv.Name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	got.Spec.ClaimRef.UID = created.UID
	if got, err = client.CoreV1().PersistentVolumes().Update(ctx, got, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	got.Status.Phase = corev1.VolumeBound
	if _, err := client.CoreV1().PersistentVolumes().UpdateStatus(ctx, got, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
}

func attachmentName(handle, driver, node string) string {
	return fmt.Sprintf("csi-%x", sha256.Sum256([]byte(handle+driver+node)))
}

// TestCSIVolumes registers a CSI driver the way node-driver-registrar
// does and checks what a user sees: the CSINode and Node carry the driver;
// a pod with a claim bound to the driver's PV waits for its
// VolumeAttachment (created by the attach/detach controller), is staged
// and published, sees the volume's content, and once deleted is
// unpublished and unstaged and its attachment deleted; an inline volume
// is published without staging or attachment; deregistration removes the
// driver from the CSINode.
func TestCSIVolumes(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("bind mounts need root")
	}
	s := servertest.Start(t, nil)
	admin := s.Client
	ctx := context.Background()
	root := t.TempDir()
	unmountUnder(t, root)
	top := t
	nodeClient := s.NodeClient(t, csiNode)
	m, stop := runCSIAgent(t, nodeClient, csiNode, root)
	s.RunBuiltin(t, "attachdetach")

	servertest.Wait(t, "the agent's CSINode, with no drivers", func(ctx context.Context) (bool, error) {
		cn, err := admin.StorageV1().CSINodes().Get(ctx, csiNode, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return false, nil
		}
		return err == nil && len(cn.Spec.Drivers) == 0 && len(cn.OwnerReferences) == 1 && cn.OwnerReferences[0].Kind == "Node", err
	})

	drv := csitest.Start(t, t.TempDir(), csitest.Config{Name: csiDriver, NodeID: "test-node-1", MaxVolumes: 7,
		Topology: map[string]string{zoneKey: "z1"}, Stage: true})
	reg := drv.Register(t, m.Layout().RegistryDir())
	withAttacher := startAttacher(t, s, drv)
	servertest.Wait(t, "the driver in the CSINode", func(ctx context.Context) (bool, error) {
		cn, err := admin.StorageV1().CSINodes().Get(ctx, csiNode, metav1.GetOptions{})
		if err != nil || len(cn.Spec.Drivers) != 1 {
			return false, err
		}
		d := cn.Spec.Drivers[0]
		return d.Name == csiDriver && d.NodeID == "test-node-1" && slices.Equal(d.TopologyKeys, []string{zoneKey}) &&
			d.Allocatable != nil && d.Allocatable.Count != nil && *d.Allocatable.Count == 7, nil
	})
	n, err := admin.CoreV1().Nodes().Get(ctx, csiNode, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := n.Annotations[csi.AnnotationNodeID], `{"`+csiDriver+`":"test-node-1"}`; got != want {
		t.Errorf("node annotation %s = %q, want %q", csi.AnnotationNodeID, got, want)
	}
	if n.Labels[zoneKey] != "z1" {
		t.Errorf("node label %s = %q, want z1", zoneKey, n.Labels[zoneKey])
	}
	// The agent tells the registrar after it has written the CSINode.
	servertest.Wait(t, "the registrar told of the registration", func(context.Context) (bool, error) {
		return len(reg.Statuses()) > 0, nil
	})
	if st := reg.Statuses(); len(st) != 1 || !st[0].PluginRegistered {
		t.Errorf("registration statuses = %v, want one registered", st)
	}

	if _, err := admin.StorageV1().CSIDrivers().Create(ctx, &storagev1.CSIDriver{
		ObjectMeta: metav1.ObjectMeta{Name: csiDriver},
		Spec: storagev1.CSIDriverSpec{
			AttachRequired: ptr.To(true), PodInfoOnMount: ptr.To(true),
			TokenRequests:        []storagev1.TokenRequest{{Audience: "csi-test"}},
			VolumeLifecycleModes: []storagev1.VolumeLifecycleMode{storagev1.VolumeLifecyclePersistent, storagev1.VolumeLifecycleEphemeral},
		},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	// No service account controller runs: the pods' account by hand, for
	// the driver's token.
	if _, err := admin.CoreV1().ServiceAccounts("default").Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "default"}}, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	if _, err := admin.CoreV1().Secrets("default").Create(ctx, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "stage-secret", Namespace: "default"},
		Data:       map[string][]byte{"password": []byte("s3cret")},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	t.Run("persistent volume", func(t *testing.T) {
		source := t.TempDir()
		if err := os.WriteFile(filepath.Join(source, "hello.txt"), []byte("hello from csi"), 0o644); err != nil {
			t.Fatal(err)
		}
		createBoundClaim(t, admin, "data", "vol-1", source)
		p := createPod(t, admin, csiPod("reader", corev1.VolumeSource{
			PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "data"}}))

		vaName := attachmentName("vol-1", csiDriver, csiNode)
		var va *storagev1.VolumeAttachment
		servertest.Wait(t, "the attach/detach controller's VolumeAttachment", func(ctx context.Context) (bool, error) {
			va, err = admin.StorageV1().VolumeAttachments().Get(ctx, vaName, metav1.GetOptions{})
			if apierrors.IsNotFound(err) {
				return false, nil
			}
			return err == nil, err
		})
		if va.Spec.Attacher != csiDriver || va.Spec.NodeName != csiNode || ptr.Deref(va.Spec.Source.PersistentVolumeName, "") != "pv-data" {
			t.Errorf("volumeattachment spec = %+v", va.Spec)
		}
		if !withAttacher {
			// Nothing attaches it yet: the agent must not stage or publish.
			if c := drv.Calls(); len(c) != 0 {
				t.Errorf("driver called before the volume was attached: %+v", c)
			}
			attach(t, admin, vaName)
		}

		waitPod(t, admin, "reader", "Running", func(p *corev1.Pod) bool { return p.Status.Phase == corev1.PodRunning })
		staging := filepath.Join(root, "plugins/kubernetes.io/csi", csiDriver, fmt.Sprintf("%x", sha256.Sum256([]byte("vol-1"))), "globalmount")
		target := filepath.Join(root, "pods", string(p.UID), "volumes/kubernetes.io~csi/data/mount")
		stage := drv.CallsOf("NodeStageVolume")
		if len(stage) != 1 {
			t.Fatalf("NodeStageVolume calls = %+v, want 1", stage)
		}
		if st := stage[0]; st.Target != staging || st.Secrets["password"] != "s3cret" || st.Publish["device"] != "/dev/test-vol-1" ||
			st.FSType != "ext4" || !slices.Equal(st.Flags, []string{"noatime"}) {
			t.Errorf("NodeStageVolume = %+v; want staging %s, the stage secret, the attachment's metadata, fsType and mount options", st, staging)
		}
		pub := drv.CallsOf("NodePublishVolume")
		if len(pub) != 1 {
			t.Fatalf("NodePublishVolume calls = %+v, want 1", pub)
		}
		if pb := pub[0]; pb.Target != target || pb.Staging != staging || pb.Context["csi.storage.k8s.io/pod.name"] != "reader" ||
			pb.Context["csi.storage.k8s.io/pod.uid"] != string(p.UID) || pb.Context["csi.storage.k8s.io/ephemeral"] != "false" || pb.Context["source"] != source {
			t.Errorf("NodePublishVolume = %+v; want target %s from %s with the pod's info", pb, target, staging)
		}
		var tokens map[string]struct {
			Token string `json:"token"`
		}
		if err := json.Unmarshal([]byte(pub[0].Context["csi.storage.k8s.io/serviceAccount.tokens"]), &tokens); err != nil || tokens["csi-test"].Token == "" {
			t.Errorf("NodePublishVolume's service account tokens = %v, %v; want one for audience csi-test", tokens, err)
		}
		if _, ok := stage[0].Context["csi.storage.k8s.io/pod.name"]; ok {
			t.Error("NodeStageVolume got the pod's info: staging is per volume, not per pod")
		}
		if b, err := os.ReadFile(filepath.Join(target, "hello.txt")); err != nil || string(b) != "hello from csi" {
			t.Errorf("published volume's hello.txt = %q, %v", b, err)
		}
		servertest.Wait(t, "the volume in the node's volumesAttached and volumesInUse", func(ctx context.Context) (bool, error) {
			n, err := admin.CoreV1().Nodes().Get(ctx, csiNode, metav1.GetOptions{})
			name := corev1.UniqueVolumeName("kubernetes.io/csi/" + csiDriver + "^vol-1") // upstream's unique name of a CSI volume
			return err == nil && slices.ContainsFunc(n.Status.VolumesAttached, func(v corev1.AttachedVolume) bool {
				return v.Name == name
			}) && slices.Contains(n.Status.VolumesInUse, name), err
		})

		if err := admin.CoreV1().Pods("default").Delete(ctx, "reader", metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		servertest.Wait(t, "the VolumeAttachment deleted", func(ctx context.Context) (bool, error) {
			_, err := admin.StorageV1().VolumeAttachments().Get(ctx, vaName, metav1.GetOptions{})
			return apierrors.IsNotFound(err), nil
		})
		// The agent unmounts before it lets the pod go, and only then may
		// the volume be detached.
		if n := len(drv.CallsOf("NodeUnpublishVolume")); n != 1 {
			t.Errorf("NodeUnpublishVolume calls when detached = %d, want 1", n)
		}
		if withAttacher {
			// The attacher removes its finalizer only after
			// ControllerUnpublishVolume: the deletion completed, so it ran.
			if got := drv.CallsOf("ControllerUnpublishVolume"); len(got) != 1 || got[0].Volume != "vol-1" {
				t.Errorf("ControllerUnpublishVolume calls = %+v, want one of vol-1", got)
			}
		}
		servertest.Wait(t, "unstaged", func(ctx context.Context) (bool, error) {
			return len(drv.CallsOf("NodeUnstageVolume")) == 1, nil
		})
		if _, err := os.Stat(target); !os.IsNotExist(err) {
			t.Errorf("publish target still there: %v", err)
		}
		if _, err := os.Stat(filepath.Dir(staging)); !os.IsNotExist(err) {
			t.Errorf("staging folder still there: %v", err)
		}
		if b, err := os.ReadFile(filepath.Join(source, "hello.txt")); err != nil || string(b) != "hello from csi" {
			t.Errorf("the volume's content after tear-down = %q, %v", b, err)
		}
	})

	t.Run("inline volume", func(t *testing.T) {
		source := t.TempDir()
		if err := os.WriteFile(filepath.Join(source, "inline.txt"), []byte("inline"), 0o644); err != nil {
			t.Fatal(err)
		}
		before := len(drv.Calls())
		p := createPod(t, admin, csiPod("inline", corev1.VolumeSource{CSI: &corev1.CSIVolumeSource{
			Driver: csiDriver, VolumeAttributes: map[string]string{"source": source}}}))
		waitPod(t, admin, "inline", "Running", func(p *corev1.Pod) bool { return p.Status.Phase == corev1.PodRunning })
		calls := drv.Calls()[before:]
		if len(calls) != 1 || calls[0].Method != "NodePublishVolume" || calls[0].Context["csi.storage.k8s.io/ephemeral"] != "true" {
			t.Fatalf("driver calls = %+v, want one ephemeral NodePublishVolume", calls)
		}
		target := filepath.Join(root, "pods", string(p.UID), "volumes/kubernetes.io~csi/data/mount")
		if b, err := os.ReadFile(filepath.Join(target, "inline.txt")); err != nil || string(b) != "inline" {
			t.Errorf("inline volume's inline.txt = %q, %v", b, err)
		}
		if err := admin.CoreV1().Pods("default").Delete(ctx, "inline", metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		servertest.Wait(t, "the inline volume unpublished", func(context.Context) (bool, error) {
			_, err := os.Stat(target)
			return len(drv.CallsOf("NodeUnpublishVolume")) == 2 && os.IsNotExist(err), nil
		})
	})

	t.Run("pod deleted while the agent is down", func(t *testing.T) {
		source := t.TempDir()
		createBoundClaim(t, admin, "later", "vol-2", source)
		p := createPod(t, admin, csiPod("later", corev1.VolumeSource{
			PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "later"}}))
		vaName := attachmentName("vol-2", csiDriver, csiNode)
		if !withAttacher {
			servertest.Wait(t, "the VolumeAttachment", func(ctx context.Context) (bool, error) {
				_, err := admin.StorageV1().VolumeAttachments().Get(ctx, vaName, metav1.GetOptions{})
				return err == nil, nil
			})
			attach(t, admin, vaName)
		}
		waitPod(t, admin, "later", "Running", func(p *corev1.Pod) bool { return p.Status.Phase == corev1.PodRunning })
		target := filepath.Join(root, "pods", string(p.UID), "volumes/kubernetes.io~csi/data/mount")
		staging := filepath.Join(root, "plugins/kubernetes.io/csi", csiDriver, fmt.Sprintf("%x", sha256.Sum256([]byte("vol-2"))))
		unpublished, unstaged := len(drv.CallsOf("NodeUnpublishVolume")), len(drv.CallsOf("NodeUnstageVolume"))

		stop()
		if err := admin.CoreV1().Pods("default").Delete(ctx, "later", metav1.DeleteOptions{GracePeriodSeconds: ptr.To(int64(0))}); err != nil {
			t.Fatal(err)
		}
		// The new agent outlives this subtest: the test's, not the
		// subtest's, end stops it.
		m, stop = runCSIAgent(top, nodeClient, csiNode, root)
		servertest.Wait(t, "the VolumeAttachment deleted", func(ctx context.Context) (bool, error) {
			_, err := admin.StorageV1().VolumeAttachments().Get(ctx, vaName, metav1.GetOptions{})
			return apierrors.IsNotFound(err), nil
		})
		// The pod went while the volume was mounted: the node's
		// volumesInUse held the detach until the new agent unpublished it.
		if n := len(drv.CallsOf("NodeUnpublishVolume")); n != unpublished+1 {
			t.Errorf("NodeUnpublishVolume calls when detached = %d, want %d", n, unpublished+1)
		}
		servertest.Wait(t, "the leftover volume unpublished and unstaged by the new agent", func(context.Context) (bool, error) {
			_, errT := os.Stat(target)
			_, errS := os.Stat(staging)
			return len(drv.CallsOf("NodeUnstageVolume")) == unstaged+1 && os.IsNotExist(errT) && os.IsNotExist(errS), nil
		})
	})

	t.Run("deregistration", func(t *testing.T) {
		reg.Stop()
		servertest.Wait(t, "the driver gone from the CSINode and the node's annotation", func(ctx context.Context) (bool, error) {
			cn, err := admin.StorageV1().CSINodes().Get(ctx, csiNode, metav1.GetOptions{})
			if err != nil {
				return false, err
			}
			n, err := admin.CoreV1().Nodes().Get(ctx, csiNode, metav1.GetOptions{})
			if err != nil {
				return false, err
			}
			_, ann := n.Annotations[csi.AnnotationNodeID]
			return len(cn.Spec.Drivers) == 0 && !ann, nil
		})
	})
}

// startAttacher runs upstream's external-attacher (bin/csi-attacher, built
// by make from tools/csi-attacher) against the driver when it is there;
// it reports whether it runs. Without it the test attaches by hand.
func startAttacher(t *testing.T, s *servertest.Server, drv *csitest.Driver) bool {
	t.Helper()
	bin := filepath.Join(os.Getenv("SKIFF_BIN_DIR"), "csi-attacher")
	if os.Getenv("SKIFF_BIN_DIR") == "" {
		t.Log("SKIFF_BIN_DIR not set: the test marks VolumeAttachments attached itself instead of running the external attacher")
		return false
	}
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("external attacher: %v (make csi-attacher builds it)", err)
	}
	runSidecar(t, bin, "--csi-address="+drv.Endpoint, "--kubeconfig="+s.AdminKubeconfig(),
		"--leader-election=false", "--timeout=30s", "--v=2")
	return true
}

// runSidecar runs a CSI sidecar binary until the test ends, and shows its
// output if the test failed.
func runSidecar(t *testing.T, bin string, args ...string) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, bin, args...)
	logs := &strings.Builder{}
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatalf("start %s: %v", filepath.Base(bin), err)
	}
	t.Cleanup(func() {
		cancel()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("%s output:\n%s", filepath.Base(bin), logs.String())
		}
	})
}

// attach marks the VolumeAttachment attached, as the driver's external
// attacher does.
func attach(t *testing.T, client kubernetes.Interface, name string) {
	t.Helper()
	patch, _ := json.Marshal(map[string]any{"status": map[string]any{
		"attached": true, "attachmentMetadata": map[string]string{"device": "/dev/test-vol-1"}}})
	if _, err := client.StorageV1().VolumeAttachments().Patch(context.Background(), name, "application/merge-patch+json", patch, metav1.PatchOptions{}, "status"); err != nil {
		t.Fatalf("attach %s: %v", name, err)
	}
}
