package scheduler

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"

	v1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"

	schedcache "skiff/internal/scheduler/cache"
	"skiff/internal/scheduler/framework"
)

// BenchmarkSchedulePod measures one scheduling cycle (snapshot update,
// filter, score, assume) with the default profile, without the API server:
// the scheduler's own CPU cost per pod.
func BenchmarkSchedulePod(b *testing.B) {
	for _, bc := range []struct {
		nodes int
		mix   string
	}{{1000, "plain"}, {5000, "plain"}, {5000, "anti-affinity"}, {5000, "spread"}} {
		b.Run(fmt.Sprintf("%d-nodes-%s", bc.nodes, bc.mix), func(b *testing.B) {
			ctx := context.Background()
			client := fake.NewClientset()
			cch := schedcache.New()
			snap := schedcache.NewSnapshot()
			for i := range bc.nodes {
				rl := v1.ResourceList{
					v1.ResourceCPU: resource.MustParse("32"), v1.ResourceMemory: resource.MustParse("128Gi"),
					v1.ResourcePods: resource.MustParse("110"),
				}
				name := fmt.Sprintf("n%05d", i)
				n := &v1.Node{
					ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{
						v1.LabelHostname: name, v1.LabelTopologyZone: fmt.Sprintf("z%d", i%5),
					}},
					Status: v1.NodeStatus{Allocatable: rl, Capacity: rl,
						Images: []v1.ContainerImage{{Names: []string{"skiff/pause:1"}, SizeBytes: 700000}}},
				}
				if i%10 == 9 {
					n.Spec.Taints = []v1.Taint{{Key: "dedicated", Value: "infra", Effect: v1.TaintEffectNoSchedule}}
				}
				cch.AddNode(n)
			}
			profiles, _ := Profiles(nil)
			fwk, err := framework.NewFramework(NewInTreeRegistry(), profiles[0], framework.Options{
				Client: client, Informers: informers.NewSharedInformerFactory(client, 0),
				Snapshot: func() framework.SharedLister { return snap },
			})
			if err != nil {
				b.Fatal(err)
			}
			algo := &algorithm{rnd: rand.New(rand.NewPCG(1, 2))}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; b.Loop(); i++ {
				p := &v1.Pod{
					ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("p%d", i), Namespace: "default", UID: types.UID(fmt.Sprint(i)),
						Labels: map[string]string{"group": fmt.Sprintf("g%d", i/10)}},
					Spec: v1.PodSpec{SchedulerName: DefaultSchedulerName, Containers: []v1.Container{{
						Name: "c", Image: "skiff/pause:1",
						Resources: v1.ResourceRequirements{Requests: v1.ResourceList{
							v1.ResourceCPU: resource.MustParse("100m"), v1.ResourceMemory: resource.MustParse("256Mi")}},
					}}},
				}
				sel := &metav1.LabelSelector{MatchLabels: map[string]string{"group": p.Labels["group"]}}
				switch bc.mix {
				case "anti-affinity":
					p.Spec.Affinity = &v1.Affinity{PodAntiAffinity: &v1.PodAntiAffinity{
						RequiredDuringSchedulingIgnoredDuringExecution: []v1.PodAffinityTerm{{LabelSelector: sel, TopologyKey: v1.LabelHostname}},
					}}
				case "spread":
					p.Spec.TopologySpreadConstraints = []v1.TopologySpreadConstraint{
						{MaxSkew: 1, TopologyKey: v1.LabelTopologyZone, WhenUnsatisfiable: v1.DoNotSchedule, LabelSelector: sel},
						{MaxSkew: 1, TopologyKey: v1.LabelHostname, WhenUnsatisfiable: v1.ScheduleAnyway, LabelSelector: sel},
					}
				}
				cch.UpdateSnapshot(snap)
				state := framework.NewCycleState()
				pi := framework.NewPodInfo(p)
				state.Write(framework.PodInfoKey, pi)
				res, err := algo.schedulePod(ctx, fwk, state, p, snap)
				if err != nil {
					b.Fatal(err)
				}
				placed := p.DeepCopy()
				placed.Spec.NodeName = res.SuggestedHost
				if err := cch.AssumePod(placed); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkSchedulePodWithClaims measures a cycle (filter, score, Reserve)
// for pods with one unbound WaitForFirstConsumer claim each, on nodes with
// one static local PV each; Unreserve after each pod keeps the PVs free,
// so every cycle does the same work.
func BenchmarkSchedulePodWithClaims(b *testing.B) {
	for _, nodes := range []int{1000, 5000} {
		b.Run(fmt.Sprintf("%d-nodes", nodes), func(b *testing.B) {
			ctx := context.Background()
			client := fake.NewClientset()
			inf := informers.NewSharedInformerFactory(client, 0)
			cch := schedcache.New()
			snap := schedcache.NewSnapshot()
			profiles, _ := Profiles(nil)
			fwk, err := framework.NewFramework(NewInTreeRegistry(), profiles[0], framework.Options{
				Client: client, Informers: inf, Snapshot: func() framework.SharedLister { return snap },
			})
			if err != nil {
				b.Fatal(err)
			}
			mode := storagev1.VolumeBindingWaitForFirstConsumer
			add := func(idx interface{ Add(any) error }, obj any) {
				if err := idx.Add(obj); err != nil {
					b.Fatal(err)
				}
			}
			add(inf.Storage().V1().StorageClasses().Informer().GetIndexer(), &storagev1.StorageClass{
				ObjectMeta: metav1.ObjectMeta{Name: "local"}, Provisioner: "kubernetes.io/no-provisioner", VolumeBindingMode: &mode})
			rl := v1.ResourceList{v1.ResourceCPU: resource.MustParse("32"), v1.ResourceMemory: resource.MustParse("128Gi"), v1.ResourcePods: resource.MustParse("110")}
			for i := range nodes {
				name := fmt.Sprintf("n%05d", i)
				cch.AddNode(&v1.Node{
					ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{v1.LabelHostname: name}},
					Status:     v1.NodeStatus{Allocatable: rl, Capacity: rl},
				})
				add(inf.Core().V1().PersistentVolumes().Informer().GetIndexer(), &v1.PersistentVolume{
					ObjectMeta: metav1.ObjectMeta{Name: "pv-" + name, ResourceVersion: "1"},
					Spec: v1.PersistentVolumeSpec{
						StorageClassName: "local", AccessModes: []v1.PersistentVolumeAccessMode{v1.ReadWriteOnce},
						Capacity:               v1.ResourceList{v1.ResourceStorage: resource.MustParse(fmt.Sprintf("%dGi", 10+i%7))},
						PersistentVolumeSource: v1.PersistentVolumeSource{Local: &v1.LocalVolumeSource{Path: "/data"}},
						NodeAffinity: &v1.VolumeNodeAffinity{Required: &v1.NodeSelector{NodeSelectorTerms: []v1.NodeSelectorTerm{{
							MatchExpressions: []v1.NodeSelectorRequirement{{Key: v1.LabelHostname, Operator: v1.NodeSelectorOpIn, Values: []string{name}}},
						}}}},
					},
					Status: v1.PersistentVolumeStatus{Phase: v1.VolumeAvailable},
				})
			}
			class := "local"
			claims := inf.Core().V1().PersistentVolumeClaims().Informer().GetIndexer()
			algo := &algorithm{rnd: rand.New(rand.NewPCG(1, 2))}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; b.Loop(); i++ {
				claim := fmt.Sprintf("c%d", i)
				add(claims, &v1.PersistentVolumeClaim{
					ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: claim, UID: types.UID("c" + fmt.Sprint(i))},
					Spec: v1.PersistentVolumeClaimSpec{StorageClassName: &class, AccessModes: []v1.PersistentVolumeAccessMode{v1.ReadWriteOnce},
						Resources: v1.VolumeResourceRequirements{Requests: v1.ResourceList{v1.ResourceStorage: resource.MustParse("5Gi")}}},
				})
				p := &v1.Pod{
					ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("p%d", i), Namespace: "default", UID: types.UID(fmt.Sprint(i))},
					Spec: v1.PodSpec{SchedulerName: DefaultSchedulerName, Containers: []v1.Container{{Name: "c", Image: "skiff/pause:1"}},
						Volumes: []v1.Volume{{Name: "data", VolumeSource: v1.VolumeSource{
							PersistentVolumeClaim: &v1.PersistentVolumeClaimVolumeSource{ClaimName: claim}}}}},
				}
				cch.UpdateSnapshot(snap)
				state := framework.NewCycleState()
				state.Write(framework.PodInfoKey, framework.NewPodInfo(p))
				res, err := algo.schedulePod(ctx, fwk, state, p, snap)
				if err != nil {
					b.Fatal(err)
				}
				if st := fwk.RunReservePluginsReserve(ctx, state, p, res.SuggestedHost); !st.IsSuccess() {
					b.Fatal(st.AsError())
				}
				fwk.RunReservePluginsUnreserve(ctx, state, p, res.SuggestedHost)
			}
		})
	}
}
