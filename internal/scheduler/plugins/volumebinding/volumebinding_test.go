package volumebinding

import (
	"context"
	"testing"

	"github.com/google/go-cmp/cmp"
	v1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/fake"

	"skiff/internal/scheduler/framework"
)

// handle is the part of framework.Handle the plugin uses.
type handle struct {
	framework.Handle
	client kubernetes.Interface
	inf    informers.SharedInformerFactory
}

// SnapshotSharedLister has nodes a and b.
func (h handle) SnapshotSharedLister() framework.SharedLister {
	return nodes{"a": nodeInfo("a"), "b": nodeInfo("b")}
}

type nodes map[string]*framework.NodeInfo

func (n nodes) List() []*framework.NodeInfo                                 { return nil }
func (n nodes) HavePodsWithAffinityList() []*framework.NodeInfo             { return nil }
func (n nodes) HavePodsWithRequiredAntiAffinityList() []*framework.NodeInfo { return nil }
func (n nodes) Get(name string) *framework.NodeInfo                         { return n[name] }

func (h handle) ClientSet() kubernetes.Interface                        { return h.client }
func (h handle) SharedInformerFactory() informers.SharedInformerFactory { return h.inf }

func wffc(name, provisioner string, topo ...v1.TopologySelectorTerm) *storagev1.StorageClass {
	m := storagev1.VolumeBindingWaitForFirstConsumer
	return &storagev1.StorageClass{ObjectMeta: metav1.ObjectMeta{Name: name}, Provisioner: provisioner,
		VolumeBindingMode: &m, AllowedTopologies: topo}
}

func immediate(name string) *storagev1.StorageClass {
	m := storagev1.VolumeBindingImmediate
	return &storagev1.StorageClass{ObjectMeta: metav1.ObjectMeta{Name: name}, Provisioner: "example.com/x", VolumeBindingMode: &m}
}

func claim(name, class, size, volume string, modes ...v1.PersistentVolumeAccessMode) *v1.PersistentVolumeClaim {
	if len(modes) == 0 {
		modes = []v1.PersistentVolumeAccessMode{v1.ReadWriteOnce}
	}
	c := &v1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: name, UID: types.UID("uid-" + name)},
		Spec: v1.PersistentVolumeClaimSpec{StorageClassName: &class, AccessModes: modes, VolumeName: volume,
			Resources: v1.VolumeResourceRequirements{Requests: v1.ResourceList{v1.ResourceStorage: resource.MustParse(size)}}},
	}
	if volume != "" {
		c.Status.Phase = v1.ClaimBound
	}
	return c
}

func volume(name, class, size string, hosts ...string) *v1.PersistentVolume {
	pv := &v1.PersistentVolume{
		ObjectMeta: metav1.ObjectMeta{Name: name, ResourceVersion: "1"},
		Spec: v1.PersistentVolumeSpec{StorageClassName: class, AccessModes: []v1.PersistentVolumeAccessMode{v1.ReadWriteOnce},
			Capacity:               v1.ResourceList{v1.ResourceStorage: resource.MustParse(size)},
			PersistentVolumeSource: v1.PersistentVolumeSource{Local: &v1.LocalVolumeSource{Path: "/data/" + name}}},
		Status: v1.PersistentVolumeStatus{Phase: v1.VolumeAvailable},
	}
	if len(hosts) > 0 {
		pv.Spec.NodeAffinity = &v1.VolumeNodeAffinity{Required: &v1.NodeSelector{NodeSelectorTerms: []v1.NodeSelectorTerm{{
			MatchExpressions: []v1.NodeSelectorRequirement{{Key: v1.LabelHostname, Operator: v1.NodeSelectorOpIn, Values: hosts}},
		}}}}
	}
	return pv
}

func zonal(pv *v1.PersistentVolume, zone string) *v1.PersistentVolume {
	pv.Spec.NodeAffinity = &v1.VolumeNodeAffinity{Required: &v1.NodeSelector{NodeSelectorTerms: []v1.NodeSelectorTerm{{
		MatchExpressions: []v1.NodeSelectorRequirement{{Key: "zone", Operator: v1.NodeSelectorOpIn, Values: []string{zone}}},
	}}}}
	return pv
}

func boundTo(pv *v1.PersistentVolume, c *v1.PersistentVolumeClaim) *v1.PersistentVolume {
	pv.Spec.ClaimRef = &v1.ObjectReference{Namespace: c.Namespace, Name: c.Name, UID: c.UID}
	pv.Status.Phase = v1.VolumeBound
	return pv
}

func podWith(claims ...string) *v1.Pod {
	p := &v1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "p", UID: "pod-uid"}}
	for _, c := range claims {
		p.Spec.Volumes = append(p.Spec.Volumes, v1.Volume{Name: c, VolumeSource: v1.VolumeSource{
			PersistentVolumeClaim: &v1.PersistentVolumeClaimVolumeSource{ClaimName: c}}})
	}
	return p
}

func nodeInfo(name string, labels ...string) *framework.NodeInfo {
	n := &v1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{v1.LabelHostname: name}}}
	for i := 0; i+1 < len(labels); i += 2 {
		n.Labels[labels[i]] = labels[i+1]
	}
	ni := framework.NewNodeInfo()
	ni.SetNode(n)
	return ni
}

func newPlugin(t *testing.T, objs ...any) (*VolumeBinding, *fake.Clientset, informers.SharedInformerFactory) {
	t.Helper()
	client := fake.NewClientset()
	inf := informers.NewSharedInformerFactory(client, 0)
	pl, err := New(nil, handle{client: client, inf: inf})
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range objs {
		var err error
		switch o := o.(type) {
		case *v1.PersistentVolume:
			err = inf.Core().V1().PersistentVolumes().Informer().GetIndexer().Add(o)
			_, _ = client.CoreV1().PersistentVolumes().Create(context.Background(), o, metav1.CreateOptions{})
		case *v1.PersistentVolumeClaim:
			err = inf.Core().V1().PersistentVolumeClaims().Informer().GetIndexer().Add(o)
			_, _ = client.CoreV1().PersistentVolumeClaims(o.Namespace).Create(context.Background(), o, metav1.CreateOptions{})
		case *storagev1.StorageClass:
			err = inf.Storage().V1().StorageClasses().Informer().GetIndexer().Add(o)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	return pl.(*VolumeBinding), client, inf
}

type result struct {
	Code    framework.Code
	Reasons []string
}

func res(s *framework.Status) result { return result{s.Code(), s.Reasons()} }

func TestPreFilter(t *testing.T) {
	deleting := claim("gone", "wffc", "1Gi", "")
	deleting.DeletionTimestamp = &metav1.Time{}
	tests := []struct {
		name string
		pod  *v1.Pod
		objs []any
		want result
	}{
		{name: "no claims", pod: podWith(), want: result{Code: framework.Skip}},
		{name: "missing claim", pod: podWith("x"),
			want: result{framework.UnschedulableAndUnresolvable, []string{`persistentvolumeclaim "x" not found`}}},
		{name: "unbound immediate", pod: podWith("c"), objs: []any{immediate("fast"), claim("c", "fast", "1Gi", "")},
			want: result{framework.UnschedulableAndUnresolvable, []string{ErrReasonUnboundImmediatePV}}},
		{name: "claim without class is immediate", pod: podWith("c"), objs: []any{claim("c", "", "1Gi", "")},
			want: result{framework.UnschedulableAndUnresolvable, []string{ErrReasonUnboundImmediatePV}}},
		{name: "being deleted", pod: podWith("gone"), objs: []any{wffc("wffc", "x"), deleting},
			want: result{framework.UnschedulableAndUnresolvable, []string{`persistentvolumeclaim "gone" is being deleted`}}},
		{name: "wffc and bound", pod: podWith("a", "b"),
			objs: []any{wffc("wffc", "x"), claim("a", "wffc", "1Gi", ""), claim("b", "wffc", "1Gi", "pv-b")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pl, _, _ := newPlugin(t, tt.objs...)
			_, st := pl.PreFilter(context.Background(), framework.NewCycleState(), tt.pod, nil)
			if diff := cmp.Diff(tt.want, res(st)); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestFilter(t *testing.T) {
	zoneA := v1.TopologySelectorTerm{MatchLabelExpressions: []v1.TopologySelectorLabelRequirement{{Key: "zone", Values: []string{"a"}}}}
	c := claim("c", "local", "5Gi", "")
	tests := []struct {
		name       string
		objs       []any
		node       *framework.NodeInfo
		want       result
		wantStatic []string
		wantProv   int
	}{
		{name: "bound pv fits", node: nodeInfo("b"),
			objs: []any{claim("c", "local", "1Gi", "pv1"), boundTo(volume("pv1", "local", "1Gi", "b"), c)}},
		{name: "bound pv node affinity conflict", node: nodeInfo("a"),
			objs: []any{claim("c", "local", "1Gi", "pv1"), boundTo(volume("pv1", "local", "1Gi", "b"), c)},
			want: result{framework.UnschedulableAndUnresolvable, []string{ErrReasonNodeConflict}}},
		{name: "bound pv missing", node: nodeInfo("a"), objs: []any{claim("c", "local", "1Gi", "pv1")},
			want: result{framework.UnschedulableAndUnresolvable, []string{ErrReasonPVNotExist}}},
		{name: "smallest matching pv on the node", node: nodeInfo("b"),
			objs: []any{wffc("local", NoProvisioner), c, volume("big", "local", "10Gi", "b"), volume("small", "local", "5Gi", "b"),
				volume("tiny", "local", "1Gi", "b"), volume("other-node", "local", "5Gi", "a"), volume("other-class", "slow", "5Gi", "b")},
			wantStatic: []string{"small"}},
		{name: "no pv on the node, no provisioner", node: nodeInfo("a"),
			objs: []any{wffc("local", NoProvisioner), c, volume("pv", "local", "5Gi", "b")},
			want: result{framework.UnschedulableAndUnresolvable, []string{ErrReasonBindConflict}}},
		{name: "pv claimed by another claim", node: nodeInfo("b"),
			objs: []any{wffc("local", NoProvisioner), c, boundTo(volume("pv", "local", "5Gi", "b"), claim("other", "local", "1Gi", ""))},
			want: result{framework.UnschedulableAndUnresolvable, []string{ErrReasonBindConflict}}},
		{name: "access mode mismatch", node: nodeInfo("b"),
			objs: []any{wffc("local", NoProvisioner), claim("c", "local", "1Gi", "", v1.ReadWriteMany), volume("pv", "local", "5Gi", "b")},
			want: result{framework.UnschedulableAndUnresolvable, []string{ErrReasonBindConflict}}},
		{name: "pv pre-bound to the claim wins", node: nodeInfo("b"),
			objs:       []any{wffc("local", NoProvisioner), c, volume("small", "local", "5Gi", "b"), boundTo(volume("pre", "local", "10Gi", "b"), c)},
			wantStatic: []string{"pre"}},
		{name: "zonal pv smaller than the node's own", node: nodeInfo("b", "zone", "a"),
			objs:       []any{wffc("local", NoProvisioner), c, volume("local-b", "local", "10Gi", "b"), zonal(volume("zonal", "local", "6Gi"), "a"), zonal(volume("zonal-b", "local", "5Gi"), "b")},
			wantStatic: []string{"zonal"}},
		{name: "provisioning", node: nodeInfo("a", "zone", "a"),
			objs: []any{wffc("local", "example.com/test", zoneA), c}, wantProv: 1},
		{name: "provisioning outside allowed topologies", node: nodeInfo("b", "zone", "b"),
			objs: []any{wffc("local", "example.com/test", zoneA), c},
			want: result{framework.UnschedulableAndUnresolvable, []string{ErrReasonBindConflict}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pl, _, _ := newPlugin(t, tt.objs...)
			state := framework.NewCycleState()
			pod := podWith("c")
			if _, st := pl.PreFilter(context.Background(), state, pod, nil); !st.IsSuccess() {
				t.Fatalf("PreFilter: %v", st.AsError())
			}
			st := pl.Filter(context.Background(), state, pod, tt.node)
			if diff := cmp.Diff(tt.want, res(st)); diff != "" {
				t.Fatalf("(-want +got):\n%s", diff)
			}
			if !st.IsSuccess() {
				return
			}
			vols := &podVolumes{}
			if !pl.findVolumes(pl.readState(state), tt.node.Node(), vols) {
				t.Fatal("findVolumes disagrees with Filter")
			}
			var static []string
			for _, b := range vols.static {
				static = append(static, b.pv.Name)
			}
			prov := len(vols.provision)
			if diff := cmp.Diff(tt.wantStatic, static); diff != "" {
				t.Errorf("static bindings (-want +got):\n%s", diff)
			}
			if prov != tt.wantProv {
				t.Errorf("%d claims to provision, want %d", prov, tt.wantProv)
			}
		})
	}
}

// TestReserveTakesTheVolume: once a pod reserved a PV, the next pod's
// claim cannot have it; Unreserve gives it back.
func TestReserveTakesTheVolume(t *testing.T) {
	c1, c2 := claim("c1", "local", "1Gi", ""), claim("c2", "local", "1Gi", "")
	pl, _, _ := newPlugin(t, wffc("local", NoProvisioner), c1, c2, volume("pv", "local", "1Gi", "b"))
	ctx := context.Background()
	ni := nodeInfo("b")
	s1 := framework.NewCycleState()
	p1 := podWith("c1")
	pl.PreFilter(ctx, s1, p1, nil)
	if st := pl.Filter(ctx, s1, p1, ni); !st.IsSuccess() {
		t.Fatalf("first pod: %v", st.AsError())
	}
	if st := pl.Reserve(ctx, s1, p1, "b"); !st.IsSuccess() {
		t.Fatalf("reserve: %v", st.AsError())
	}
	s2 := framework.NewCycleState()
	p2 := podWith("c2")
	p2.UID = "pod-2"
	pl.PreFilter(ctx, s2, p2, nil)
	if diff := cmp.Diff(result{framework.UnschedulableAndUnresolvable, []string{ErrReasonBindConflict}}, res(pl.Filter(ctx, s2, p2, ni))); diff != "" {
		t.Errorf("second pod while reserved (-want +got):\n%s", diff)
	}
	pl.Unreserve(ctx, s1, p1, "b")
	s2 = framework.NewCycleState()
	pl.PreFilter(ctx, s2, p2, nil)
	if st := pl.Filter(ctx, s2, p2, ni); !st.IsSuccess() {
		t.Errorf("second pod after unreserve: %v", st.AsError())
	}
}

// TestPreBindStatic writes the claimRef as upstream's binder does and
// returns once the claim is bound (the test plays the PV binder).
func TestPreBindStatic(t *testing.T) {
	c := claim("c", "local", "1Gi", "")
	pl, client, inf := newPlugin(t, wffc("local", NoProvisioner), c, volume("pv", "local", "1Gi", "b"))
	ctx := context.Background()
	w, err := client.CoreV1().PersistentVolumes().Watch(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	state := framework.NewCycleState()
	pod := podWith("c")
	pl.PreFilter(ctx, state, pod, nil)
	pl.Filter(ctx, state, pod, nodeInfo("b"))
	if st := pl.Reserve(ctx, state, pod, "b"); !st.IsSuccess() {
		t.Fatal(st.AsError())
	}
	done := make(chan *framework.Status, 1)
	go func() { done <- pl.PreBind(ctx, state, pod, "b") }()
	var pv *v1.PersistentVolume
	for ev := range w.ResultChan() {
		if ev.Type == watch.Modified {
			pv = ev.Object.(*v1.PersistentVolume)
			break
		}
	}
	if diff := cmp.Diff("yes", pv.Annotations[AnnBoundByController]); diff != "" {
		t.Errorf("bound-by-controller (-want +got):\n%s", diff)
	}
	if pv.Spec.ClaimRef == nil || pv.Spec.ClaimRef.Name != "c" || pv.Spec.ClaimRef.UID != c.UID {
		t.Fatalf("claimRef %+v, want default/c %s", pv.Spec.ClaimRef, c.UID)
	}
	pv.ResourceVersion = "2"
	bound := c.DeepCopy()
	bound.Spec.VolumeName, bound.Status.Phase = "pv", v1.ClaimBound
	if err := inf.Core().V1().PersistentVolumes().Informer().GetIndexer().Update(pv); err != nil {
		t.Fatal(err)
	}
	if err := inf.Core().V1().PersistentVolumeClaims().Informer().GetIndexer().Update(bound); err != nil {
		t.Fatal(err)
	}
	pl.changes.notify()
	if st := <-done; !st.IsSuccess() {
		t.Fatalf("PreBind: %v", st.AsError())
	}
}

// TestPreBindProvisioning sets the selected node and fails when the
// provisioner resets it.
func TestPreBindProvisioning(t *testing.T) {
	c := claim("c", "local", "1Gi", "")
	pl, client, inf := newPlugin(t, wffc("local", "example.com/test"), c)
	ctx := context.Background()
	state := framework.NewCycleState()
	pod := podWith("c")
	pl.PreFilter(ctx, state, pod, nil)
	pl.Filter(ctx, state, pod, nodeInfo("b"))
	if st := pl.Reserve(ctx, state, pod, "b"); !st.IsSuccess() {
		t.Fatal(st.AsError())
	}
	w, err := client.CoreV1().PersistentVolumeClaims("default").Watch(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	done := make(chan *framework.Status, 1)
	go func() { done <- pl.PreBind(ctx, state, pod, "b") }()
	var got *v1.PersistentVolumeClaim
	for ev := range w.ResultChan() {
		if ev.Type == watch.Modified {
			got = ev.Object.(*v1.PersistentVolumeClaim)
			break
		}
	}
	if diff := cmp.Diff("b", got.Annotations[AnnSelectedNode]); diff != "" {
		t.Errorf("selected node (-want +got):\n%s", diff)
	}
	// The informer first shows the claim as it was (the write not seen
	// yet), then the provisioner gives up on the node: the annotation goes.
	pl.changes.notify()
	reset := c.DeepCopy()
	reset.ResourceVersion = "3"
	if err := inf.Core().V1().PersistentVolumeClaims().Informer().GetIndexer().Update(reset); err != nil {
		t.Fatal(err)
	}
	pl.changes.notify()
	want := `binding volumes: selectedNode annotation reset for PVC "c"`
	if st := <-done; st.IsSuccess() || st.Message() != want {
		t.Errorf("PreBind = %v, want %q", st.AsError(), want)
	}
}
