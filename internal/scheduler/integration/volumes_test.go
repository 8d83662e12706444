package integration

import (
	"context"
	"fmt"
	"testing"

	"github.com/google/go-cmp/cmp"
	v1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	configv1 "k8s.io/kube-scheduler/config/v1"

	"skiff/internal/scheduler"
	"skiff/internal/server/servertest"
	"skiff/internal/testobj"
)

// TestVolumes runs the volume plugins against a real API server with two
// simulated nodes, a and b. No PV binder runs: the test does its part
// (claimRef on the PV, volumeName and phase Bound on the claim). The
// scheduler acts as system:kube-scheduler, so its RBAC is exercised too.
func TestVolumes(t *testing.T) {
	srv := servertest.Start(t, nil)
	c := srv.Client
	for _, n := range []string{"a", "b"} {
		createNode(t, c, testobj.Node(n).Capacity("4", "8Gi").Ready().Labels(v1.LabelHostname, n).Obj())
	}
	rc := rest.CopyConfig(srv.Config)
	rc.Impersonate = rest.ImpersonationConfig{UserName: "system:kube-scheduler"}
	startScheduler(t, rc, scheduler.Config{DisableLeaderElection: true})
	ctx := context.Background()
	wffc := storagev1.VolumeBindingWaitForFirstConsumer
	immediate := storagev1.VolumeBindingImmediate
	for _, sc := range []*storagev1.StorageClass{
		{ObjectMeta: metav1.ObjectMeta{Name: "local"}, Provisioner: "kubernetes.io/no-provisioner", VolumeBindingMode: &wffc},
		{ObjectMeta: metav1.ObjectMeta{Name: "provisioned"}, Provisioner: "example.com/test", VolumeBindingMode: &wffc},
		{ObjectMeta: metav1.ObjectMeta{Name: "immediate"}, Provisioner: "example.com/test", VolumeBindingMode: &immediate},
		{ObjectMeta: metav1.ObjectMeta{Name: "csi"}, Provisioner: "csi.example.com", VolumeBindingMode: &immediate},
	} {
		if _, err := c.StorageV1().StorageClasses().Create(ctx, sc, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}

	t.Run("static local PV on b", func(t *testing.T) {
		pv := createPV(t, c, localPV("local-b", "local", "b"))
		_ = pv
		// A bigger PV on a must not win: a matching PV on the node, not the
		// node, is what the pod needs. A PV on a too small to match makes a
		// unfit.
		createPV(t, c, localPV("local-a-small", "local", "a", "100Mi"))
		claim := createClaim(t, c, "data-b", "local", "1Gi")
		createPod(t, c, podWithClaim("static", "data-b"))
		pv = waitPV(t, c, "local-b", func(pv *v1.PersistentVolume) bool { return pv.Spec.ClaimRef != nil })
		if ref := pv.Spec.ClaimRef; ref.Namespace != "default" || ref.Name != "data-b" || ref.UID != claim.UID {
			t.Errorf("claimRef %+v, want default/data-b %s", ref, claim.UID)
		}
		if got := pv.Annotations["pv.kubernetes.io/bound-by-controller"]; got != "yes" {
			t.Errorf("bound-by-controller = %q, want yes", got)
		}
		bindClaim(t, c, "data-b", "local-b")
		if got := waitBound(t, c, "static"); got != "b" {
			t.Errorf("pod bound to %s, want b", got)
		}
	})

	t.Run("provisioning", func(t *testing.T) {
		claim := createClaim(t, c, "data-prov", "provisioned", "1Gi")
		p := podWithClaim("provisioned", "data-prov")
		p.Spec.NodeSelector = map[string]string{v1.LabelHostname: "a"}
		createPod(t, c, p)
		var node string
		servertest.Wait(t, "selected-node on the claim", func(ctx context.Context) (bool, error) {
			got, err := c.CoreV1().PersistentVolumeClaims("default").Get(ctx, "data-prov", metav1.GetOptions{})
			if err != nil {
				return false, err
			}
			node = got.Annotations["volume.kubernetes.io/selected-node"]
			return node != "", nil
		})
		if node != "a" {
			t.Fatalf("selected node %q, want a", node)
		}
		// Play the provisioner and the binder.
		pv := localPV("pvc-"+string(claim.UID), "provisioned", node)
		pv.Spec.ClaimRef = &v1.ObjectReference{Kind: "PersistentVolumeClaim", APIVersion: "v1", Namespace: "default", Name: "data-prov", UID: claim.UID}
		createPV(t, c, pv)
		bindClaim(t, c, "data-prov", pv.Name)
		if got := waitBound(t, c, "provisioned"); got != node {
			t.Errorf("pod bound to %s, want %s", got, node)
		}
	})

	t.Run("unbound immediate claim", func(t *testing.T) {
		createClaim(t, c, "data-imm", "immediate", "1Gi")
		createPod(t, c, podWithClaim("immediate", "data-imm"))
		want := "0/2 nodes are available: pod has unbound immediate PersistentVolumeClaims. preemption: 0/2 nodes are available: 2 Preemption is not helpful for scheduling."
		if diff := cmp.Diff(want, waitUnschedulable(t, c, "immediate", want)); diff != "" {
			t.Errorf("(-want +got):\n%s", diff)
		}
		if diff := cmp.Diff(want, waitEvent(t, c, "immediate", "FailedScheduling", want)); diff != "" {
			t.Errorf("event (-want +got):\n%s", diff)
		}
		// The binder binds it: the PVC event brings the pod back.
		createPV(t, c, localPV("imm-pv", "immediate", "b"))
		bindClaim(t, c, "data-imm", "imm-pv")
		if got := waitBound(t, c, "immediate"); got != "b" {
			t.Errorf("pod bound to %s, want b", got)
		}
	})

	t.Run("bound PV node affinity conflict", func(t *testing.T) {
		createPV(t, c, localPV("conflict-pv", "local", "a"))
		createClaim(t, c, "data-conflict", "local", "1Gi")
		bindClaim(t, c, "data-conflict", "conflict-pv")
		p := podWithClaim("conflict", "data-conflict")
		p.Spec.NodeSelector = map[string]string{v1.LabelHostname: "b"}
		createPod(t, c, p)
		want := "0/2 nodes are available: 1 node(s) didn't match Pod's node affinity/selector, 1 node(s) had volume node affinity conflict. preemption: 0/2 nodes are available: 2 Preemption is not helpful for scheduling."
		if diff := cmp.Diff(want, waitUnschedulable(t, c, "conflict", want)); diff != "" {
			t.Errorf("(-want +got):\n%s", diff)
		}
	})

	t.Run("CSI volume limit", func(t *testing.T) {
		one := int32(1)
		for _, n := range []string{"a", "b"} {
			if _, err := c.StorageV1().CSINodes().Create(ctx, &storagev1.CSINode{
				ObjectMeta: metav1.ObjectMeta{Name: n},
				Spec: storagev1.CSINodeSpec{Drivers: []storagev1.CSINodeDriver{{
					Name: "csi.example.com", NodeID: n, Allocatable: &storagev1.VolumeNodeResources{Count: &one}}}},
			}, metav1.CreateOptions{}); err != nil {
				t.Fatal(err)
			}
		}
		for i, node := range []string{"a", "a"} {
			name := fmt.Sprintf("csi-%d", i)
			pv := &v1.PersistentVolume{
				ObjectMeta: metav1.ObjectMeta{Name: name},
				Spec: v1.PersistentVolumeSpec{
					StorageClassName: "csi", AccessModes: []v1.PersistentVolumeAccessMode{v1.ReadWriteOnce},
					Capacity:               v1.ResourceList{v1.ResourceStorage: resource.MustParse("1Gi")},
					PersistentVolumeSource: v1.PersistentVolumeSource{CSI: &v1.CSIPersistentVolumeSource{Driver: "csi.example.com", VolumeHandle: name}},
				},
			}
			createPV(t, c, pv)
			createClaim(t, c, name, "csi", "1Gi")
			bindClaim(t, c, name, name)
			p := podWithClaim(name, name)
			p.Spec.NodeSelector = map[string]string{v1.LabelHostname: node}
			createPod(t, c, p)
			if i == 0 {
				if got := waitBound(t, c, name); got != "a" {
					t.Fatalf("pod bound to %s, want a", got)
				}
			}
		}
		want := "0/2 nodes are available: 1 node(s) didn't match Pod's node affinity/selector, 1 node(s) exceed max volume count. preemption: 0/2 nodes are available: 1 No preemption victims found for incoming pod, 1 Preemption is not helpful for scheduling."
		if diff := cmp.Diff(want, waitUnschedulable(t, c, "csi-1", want)); diff != "" {
			t.Errorf("(-want +got):\n%s", diff)
		}
	})
}

func localPV(name, class, node string, size ...string) *v1.PersistentVolume {
	capacity := "10Gi"
	if len(size) > 0 {
		capacity = size[0]
	}
	return &v1.PersistentVolume{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: v1.PersistentVolumeSpec{
			StorageClassName: class, AccessModes: []v1.PersistentVolumeAccessMode{v1.ReadWriteOnce},
			Capacity:               v1.ResourceList{v1.ResourceStorage: resource.MustParse(capacity)},
			PersistentVolumeSource: v1.PersistentVolumeSource{Local: &v1.LocalVolumeSource{Path: "/data/" + name}},
			NodeAffinity: &v1.VolumeNodeAffinity{Required: &v1.NodeSelector{NodeSelectorTerms: []v1.NodeSelectorTerm{{
				MatchExpressions: []v1.NodeSelectorRequirement{{Key: v1.LabelHostname, Operator: v1.NodeSelectorOpIn, Values: []string{node}}},
			}}}},
		},
	}
}

// createPV creates the PV and makes it Available (the binder's job).
func createPV(t *testing.T, c kubernetes.Interface, pv *v1.PersistentVolume) *v1.PersistentVolume {
	t.Helper()
	ctx := context.Background()
	got, err := c.CoreV1().PersistentVolumes().Create(ctx, pv, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create pv %s: %v", pv.Name, err)
	}
	got.Status.Phase = v1.VolumeAvailable
	if pv.Spec.ClaimRef != nil {
		got.Status.Phase = v1.VolumeBound
	}
	got, err = c.CoreV1().PersistentVolumes().UpdateStatus(ctx, got, metav1.UpdateOptions{})
	if err != nil {
		t.Fatalf("pv %s status: %v", pv.Name, err)
	}
	return got
}

func createClaim(t *testing.T, c kubernetes.Interface, name, class, size string) *v1.PersistentVolumeClaim {
	t.Helper()
	got, err := c.CoreV1().PersistentVolumeClaims("default").Create(context.Background(), &v1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: v1.PersistentVolumeClaimSpec{
			StorageClassName: &class, AccessModes: []v1.PersistentVolumeAccessMode{v1.ReadWriteOnce},
			Resources: v1.VolumeResourceRequirements{Requests: v1.ResourceList{v1.ResourceStorage: resource.MustParse(size)}},
		},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create claim %s: %v", name, err)
	}
	return got
}

// bindClaim does the PV binder's part: claimRef on the PV (if missing),
// volumeName and phase Bound on the claim.
func bindClaim(t *testing.T, c kubernetes.Interface, claimName, pvName string) {
	t.Helper()
	ctx := context.Background()
	claim, err := c.CoreV1().PersistentVolumeClaims("default").Get(ctx, claimName, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	pv, err := c.CoreV1().PersistentVolumes().Get(ctx, pvName, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if pv.Spec.ClaimRef == nil {
		pv.Spec.ClaimRef = &v1.ObjectReference{Kind: "PersistentVolumeClaim", APIVersion: "v1", Namespace: "default", Name: claimName, UID: claim.UID}
		if pv, err = c.CoreV1().PersistentVolumes().Update(ctx, pv, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	pv.Status.Phase = v1.VolumeBound
	if _, err := c.CoreV1().PersistentVolumes().UpdateStatus(ctx, pv, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	claim.Spec.VolumeName = pvName
	if claim.Annotations == nil {
		claim.Annotations = map[string]string{}
	}
	claim.Annotations["pv.kubernetes.io/bind-completed"] = "yes"
	if claim, err = c.CoreV1().PersistentVolumeClaims("default").Update(ctx, claim, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	claim.Status.Phase = v1.ClaimBound
	if _, err := c.CoreV1().PersistentVolumeClaims("default").UpdateStatus(ctx, claim, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
}

func waitPV(t *testing.T, c kubernetes.Interface, name string, cond func(*v1.PersistentVolume) bool) *v1.PersistentVolume {
	t.Helper()
	var pv *v1.PersistentVolume
	servertest.Wait(t, "pv "+name, func(ctx context.Context) (bool, error) {
		got, err := c.CoreV1().PersistentVolumes().Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		pv = got
		return cond(got), nil
	})
	return pv
}

func podWithClaim(name, claim string) *v1.Pod {
	p := testobj.Pod(name).Req("cpu", "100m").Obj()
	p.Spec.Volumes = []v1.Volume{{Name: "data", VolumeSource: v1.VolumeSource{
		PersistentVolumeClaim: &v1.PersistentVolumeClaimVolumeSource{ClaimName: claim}}}}
	return p
}

// TestVolumeBindTimeout: when the claims are not bound within
// bindTimeoutSeconds, PreBind fails, the pod is unreserved and retried,
// and binds once the binder (here the test) catches up.
func TestVolumeBindTimeout(t *testing.T) {
	srv := servertest.Start(t, nil)
	c := srv.Client
	createNode(t, c, testobj.Node("a").Capacity("4", "8Gi").Ready().Labels(v1.LabelHostname, "a").Obj())
	cfg := &configv1.KubeSchedulerConfiguration{Profiles: []configv1.KubeSchedulerProfile{{
		PluginConfig: []configv1.PluginConfig{{Name: "VolumeBinding", Args: runtime.RawExtension{Raw: []byte(`{"bindTimeoutSeconds":1}`)}}},
	}}}
	startScheduler(t, srv.Config, scheduler.Config{DisableLeaderElection: true, Configuration: cfg})
	wffc := storagev1.VolumeBindingWaitForFirstConsumer
	if _, err := c.StorageV1().StorageClasses().Create(context.Background(), &storagev1.StorageClass{
		ObjectMeta: metav1.ObjectMeta{Name: "local"}, Provisioner: "kubernetes.io/no-provisioner", VolumeBindingMode: &wffc,
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	createPV(t, c, localPV("pv", "local", "a"))
	createClaim(t, c, "data", "local", "1Gi")
	createPod(t, c, podWithClaim("slow", "data"))
	want := `running PreBind plugin "VolumeBinding": binding volumes: context deadline exceeded`
	if diff := cmp.Diff(want, waitEvent(t, c, "slow", "FailedScheduling", want)); diff != "" {
		t.Errorf("FailedScheduling event (-want +got):\n%s", diff)
	}
	bindClaim(t, c, "data", "pv")
	if got := waitBound(t, c, "slow"); got != "a" {
		t.Errorf("pod bound to %s, want a", got)
	}
}
