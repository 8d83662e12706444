package volumerestrictions

import (
	"context"
	"testing"

	"github.com/google/go-cmp/cmp"
	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"

	"skiff/internal/scheduler/framework"
)

type handle struct {
	framework.Handle
	inf informers.SharedInformerFactory
}

func (h handle) SharedInformerFactory() informers.SharedInformerFactory { return h.inf }

func pod(name string, vols ...v1.Volume) *v1.Pod {
	return &v1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: name, UID: types.UID(name)}, Spec: v1.PodSpec{Volumes: vols}}
}

func pvcVol(claim string) v1.Volume {
	return v1.Volume{Name: claim, VolumeSource: v1.VolumeSource{PersistentVolumeClaim: &v1.PersistentVolumeClaimVolumeSource{ClaimName: claim}}}
}

func gce(pd string, ro bool) v1.Volume {
	return v1.Volume{Name: pd, VolumeSource: v1.VolumeSource{GCEPersistentDisk: &v1.GCEPersistentDiskVolumeSource{PDName: pd, ReadOnly: ro}}}
}

func ebs(id string) v1.Volume {
	return v1.Volume{Name: id, VolumeSource: v1.VolumeSource{AWSElasticBlockStore: &v1.AWSElasticBlockStoreVolumeSource{VolumeID: id}}}
}

type result struct {
	Code    framework.Code
	Reasons []string
}

func TestVolumeRestrictions(t *testing.T) {
	claims := []*v1.PersistentVolumeClaim{
		{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "rwop"}, Spec: v1.PersistentVolumeClaimSpec{AccessModes: []v1.PersistentVolumeAccessMode{v1.ReadWriteOncePod}}},
		{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "rwo"}, Spec: v1.PersistentVolumeClaimSpec{AccessModes: []v1.PersistentVolumeAccessMode{v1.ReadWriteOnce}}},
	}
	tests := []struct {
		name      string
		pod       *v1.Pod
		existing  []*v1.Pod // on the node filtered
		elsewhere []*v1.Pod
		wantPre   framework.Code
		want      result
	}{
		{name: "no volumes", pod: pod("p"), wantPre: framework.Skip},
		{name: "missing claim", pod: pod("p", pvcVol("nope")), wantPre: framework.UnschedulableAndUnresolvable},
		{name: "rwo shared", pod: pod("p", pvcVol("rwo")), existing: []*v1.Pod{pod("q", pvcVol("rwo"))}, wantPre: framework.Skip},
		{name: "rwop unused", pod: pod("p", pvcVol("rwop")), existing: []*v1.Pod{pod("q", pvcVol("rwo"))}},
		{name: "rwop used on another node", pod: pod("p", pvcVol("rwop")), elsewhere: []*v1.Pod{pod("q", pvcVol("rwop"))},
			want: result{framework.Unschedulable, []string{ErrReasonReadWriteOncePodConflict}}},
		{name: "gce pd read-write twice", pod: pod("p", gce("d", false)), existing: []*v1.Pod{pod("q", gce("d", true))},
			want: result{framework.Unschedulable, []string{ErrReasonDiskConflict}}},
		{name: "gce pd read-only twice", pod: pod("p", gce("d", true)), existing: []*v1.Pod{pod("q", gce("d", true))}},
		{name: "ebs twice", pod: pod("p", ebs("vol-1")), existing: []*v1.Pod{pod("q", ebs("vol-1"))},
			want: result{framework.Unschedulable, []string{ErrReasonDiskConflict}}},
		{name: "different ebs", pod: pod("p", ebs("vol-1")), existing: []*v1.Pod{pod("q", ebs("vol-2"))}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			inf := informers.NewSharedInformerFactory(fake.NewClientset(), 0)
			for _, c := range claims {
				if err := inf.Core().V1().PersistentVolumeClaims().Informer().GetIndexer().Add(c); err != nil {
					t.Fatal(err)
				}
			}
			pl, err := New(nil, handle{inf: inf})
			if err != nil {
				t.Fatal(err)
			}
			vr := pl.(*VolumeRestrictions)
			node, other := framework.NewNodeInfo(tt.existing...), framework.NewNodeInfo(tt.elsewhere...)
			node.SetNode(&v1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n1"}})
			other.SetNode(&v1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n2"}})
			state := framework.NewCycleState()
			_, st := vr.PreFilter(context.Background(), state, tt.pod, []*framework.NodeInfo{node, other})
			if st.Code() != tt.wantPre {
				t.Fatalf("PreFilter %v, want %v", st.Code(), tt.wantPre)
			}
			if !st.IsSuccess() {
				return
			}
			got := vr.Filter(context.Background(), state, tt.pod, node)
			if diff := cmp.Diff(tt.want, result{got.Code(), got.Reasons()}); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}
