package scheduler

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"

	v1 "k8s.io/api/core/v1"
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
