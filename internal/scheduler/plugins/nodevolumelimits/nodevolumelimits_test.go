package nodevolumelimits

import (
	"context"
	"testing"

	"github.com/google/go-cmp/cmp"
	v1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
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

type result struct {
	Code    framework.Code
	Reasons []string
}

func csiPV(name, driver, handle string) *v1.PersistentVolume {
	return &v1.PersistentVolume{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: v1.PersistentVolumeSpec{
		PersistentVolumeSource: v1.PersistentVolumeSource{CSI: &v1.CSIPersistentVolumeSource{Driver: driver, VolumeHandle: handle}}}}
}

func boundClaim(name, pv string) *v1.PersistentVolumeClaim {
	return &v1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: name}, Spec: v1.PersistentVolumeClaimSpec{VolumeName: pv}}
}

func pod(name string, claims ...string) *v1.Pod {
	p := &v1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: name, UID: types.UID(name)}}
	for _, c := range claims {
		p.Spec.Volumes = append(p.Spec.Volumes, v1.Volume{Name: c, VolumeSource: v1.VolumeSource{
			PersistentVolumeClaim: &v1.PersistentVolumeClaimVolumeSource{ClaimName: c}}})
	}
	return p
}

func TestNodeVolumeLimits(t *testing.T) {
	one, two := int32(1), int32(2)
	class := "csi"
	objs := []any{
		csiPV("pv1", "csi.example.com", "h1"), csiPV("pv2", "csi.example.com", "h2"), csiPV("pv3", "other.example.com", "h3"),
		csiPV("pv1-again", "csi.example.com", "h1"),
		boundClaim("c1", "pv1"), boundClaim("c2", "pv2"), boundClaim("c3", "pv3"), boundClaim("c1-again", "pv1-again"),
		&v1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "unbound"}, Spec: v1.PersistentVolumeClaimSpec{StorageClassName: &class}},
		&storagev1.StorageClass{ObjectMeta: metav1.ObjectMeta{Name: "csi"}, Provisioner: "csi.example.com"},
	}
	exceeded := result{framework.Unschedulable, []string{ErrReasonMaxVolumeCountExceeded}}
	tests := []struct {
		name      string
		pod       *v1.Pod
		existing  []*v1.Pod
		limit     *int32
		noCSINode bool
		want      result
	}{
		{name: "no volumes", pod: pod("p"), limit: &one},
		{name: "first volume", pod: pod("p", "c1"), limit: &one},
		{name: "second volume over a limit of one", pod: pod("p", "c2"), existing: []*v1.Pod{pod("q", "c1")}, limit: &one, want: exceeded},
		{name: "second volume within a limit of two", pod: pod("p", "c2"), existing: []*v1.Pod{pod("q", "c1")}, limit: &two},
		{name: "same handle shared", pod: pod("p", "c1-again"), existing: []*v1.Pod{pod("q", "c1")}, limit: &one},
		{name: "other driver unlimited", pod: pod("p", "c3"), existing: []*v1.Pod{pod("q", "c1")}, limit: &one},
		{name: "unbound claim counts for the class driver", pod: pod("p", "unbound"), existing: []*v1.Pod{pod("q", "c1")}, limit: &one, want: exceeded},
		{name: "no count", pod: pod("p", "c2"), existing: []*v1.Pod{pod("q", "c1")}},
		{name: "no CSINode", pod: pod("p", "c2"), existing: []*v1.Pod{pod("q", "c1")}, noCSINode: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			inf := informers.NewSharedInformerFactory(fake.NewClientset(), 0)
			add := func(o any) {
				var err error
				switch o := o.(type) {
				case *v1.PersistentVolume:
					err = inf.Core().V1().PersistentVolumes().Informer().GetIndexer().Add(o)
				case *v1.PersistentVolumeClaim:
					err = inf.Core().V1().PersistentVolumeClaims().Informer().GetIndexer().Add(o)
				case *storagev1.StorageClass:
					err = inf.Storage().V1().StorageClasses().Informer().GetIndexer().Add(o)
				case *storagev1.CSINode:
					err = inf.Storage().V1().CSINodes().Informer().GetIndexer().Add(o)
				}
				if err != nil {
					t.Fatal(err)
				}
			}
			for _, o := range objs {
				add(o)
			}
			if !tt.noCSINode {
				d := storagev1.CSINodeDriver{Name: "csi.example.com", NodeID: "n"}
				if tt.limit != nil {
					d.Allocatable = &storagev1.VolumeNodeResources{Count: tt.limit}
				}
				add(&storagev1.CSINode{ObjectMeta: metav1.ObjectMeta{Name: "n"}, Spec: storagev1.CSINodeSpec{Drivers: []storagev1.CSINodeDriver{d}}})
			}
			pl, _ := New(nil, handle{inf: inf})
			nl := pl.(*NodeVolumeLimits)
			ni := framework.NewNodeInfo(tt.existing...)
			ni.SetNode(&v1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n"}})
			state := framework.NewCycleState()
			if _, st := nl.PreFilter(context.Background(), state, tt.pod, nil); st.IsSkip() {
				if len(tt.pod.Spec.Volumes) > 0 {
					t.Fatal("skipped a pod with volumes")
				}
				return
			}
			got := nl.Filter(context.Background(), state, tt.pod, ni)
			if diff := cmp.Diff(tt.want, result{got.Code(), got.Reasons()}); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}
