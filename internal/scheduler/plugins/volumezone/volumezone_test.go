package volumezone

import (
	"context"
	"testing"

	"github.com/google/go-cmp/cmp"
	v1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
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

func TestVolumeZone(t *testing.T) {
	wffc := storagev1.VolumeBindingWaitForFirstConsumer
	class := "wffc"
	objs := []any{
		&v1.PersistentVolume{ObjectMeta: metav1.ObjectMeta{Name: "pv-a", Labels: map[string]string{v1.LabelTopologyZone: "a"}}},
		&v1.PersistentVolume{ObjectMeta: metav1.ObjectMeta{Name: "pv-ab", Labels: map[string]string{v1.LabelFailureDomainBetaZone: "a__b"}}},
		&v1.PersistentVolume{ObjectMeta: metav1.ObjectMeta{Name: "pv-none"}},
		&v1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "a"}, Spec: v1.PersistentVolumeClaimSpec{VolumeName: "pv-a"}},
		&v1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "ab"}, Spec: v1.PersistentVolumeClaimSpec{VolumeName: "pv-ab"}},
		&v1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "none"}, Spec: v1.PersistentVolumeClaimSpec{VolumeName: "pv-none"}},
		&v1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "unbound"}, Spec: v1.PersistentVolumeClaimSpec{StorageClassName: &class}},
		&storagev1.StorageClass{ObjectMeta: metav1.ObjectMeta{Name: "wffc"}, VolumeBindingMode: &wffc},
	}
	conflict := result{framework.UnschedulableAndUnresolvable, []string{ErrReasonConflict}}
	tests := []struct {
		name       string
		claim      string
		nodeLabels map[string]string
		wantPre    framework.Code
		want       result
	}{
		{name: "same zone", claim: "a", nodeLabels: map[string]string{v1.LabelTopologyZone: "a"}},
		{name: "other zone", claim: "a", nodeLabels: map[string]string{v1.LabelTopologyZone: "b"}, want: conflict},
		{name: "node without topology", claim: "a", nodeLabels: map[string]string{}},
		{name: "node with region only", claim: "a", nodeLabels: map[string]string{v1.LabelTopologyRegion: "r"}, want: conflict},
		{name: "beta multi-zone label vs GA node label", claim: "ab", nodeLabels: map[string]string{v1.LabelTopologyZone: "b"}},
		{name: "pv without labels", claim: "none", wantPre: framework.Skip},
		{name: "unbound wffc claim", claim: "unbound", wantPre: framework.Skip},
		{name: "missing claim", claim: "nope", wantPre: framework.UnschedulableAndUnresolvable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			inf := informers.NewSharedInformerFactory(fake.NewClientset(), 0)
			for _, o := range objs {
				var err error
				switch o := o.(type) {
				case *v1.PersistentVolume:
					err = inf.Core().V1().PersistentVolumes().Informer().GetIndexer().Add(o)
				case *v1.PersistentVolumeClaim:
					err = inf.Core().V1().PersistentVolumeClaims().Informer().GetIndexer().Add(o)
				case *storagev1.StorageClass:
					err = inf.Storage().V1().StorageClasses().Informer().GetIndexer().Add(o)
				}
				if err != nil {
					t.Fatal(err)
				}
			}
			pl, _ := New(nil, handle{inf: inf})
			vz := pl.(*VolumeZone)
			p := &v1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "p"}, Spec: v1.PodSpec{Volumes: []v1.Volume{{
				Name: "v", VolumeSource: v1.VolumeSource{PersistentVolumeClaim: &v1.PersistentVolumeClaimVolumeSource{ClaimName: tt.claim}}}}}}
			state := framework.NewCycleState()
			_, st := vz.PreFilter(context.Background(), state, p, nil)
			if st.Code() != tt.wantPre {
				t.Fatalf("PreFilter %v (%s), want %v", st.Code(), st.Message(), tt.wantPre)
			}
			if !st.IsSuccess() {
				return
			}
			ni := framework.NewNodeInfo()
			ni.SetNode(&v1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n", Labels: tt.nodeLabels}})
			got := vz.Filter(context.Background(), state, p, ni)
			if diff := cmp.Diff(tt.want, result{got.Code(), got.Reasons()}); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}
