// Package balancedallocation implements NodeResourcesBalancedAllocation:
// nodes whose CPU and memory would be used in similar proportions score
// higher.
package balancedallocation

import (
	"context"
	"math"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	configv1 "k8s.io/kube-scheduler/config/v1"

	"skiff/internal/scheduler/framework"
)

// Name is the plugin's name in configuration.
const Name = "NodeResourcesBalancedAllocation"

const stateKey framework.StateKey = "PreScore" + Name

// BalancedAllocation is the plugin.
type BalancedAllocation struct {
	resources []v1.ResourceName
}

var (
	_ framework.PreScorePlugin = (*BalancedAllocation)(nil)
	_ framework.ScorePlugin    = (*BalancedAllocation)(nil)
)

// New builds the plugin; args may be *configv1.NodeResourcesBalancedAllocationArgs.
func New(args runtime.Object, _ framework.Handle) (framework.Plugin, error) {
	pl := &BalancedAllocation{resources: []v1.ResourceName{v1.ResourceCPU, v1.ResourceMemory}}
	if a, ok := args.(*configv1.NodeResourcesBalancedAllocationArgs); ok && a != nil && len(a.Resources) > 0 {
		pl.resources = nil
		for _, r := range a.Resources {
			pl.resources = append(pl.resources, v1.ResourceName(r.Name))
		}
	}
	return pl, nil
}

// Name implements framework.Plugin.
func (*BalancedAllocation) Name() string { return Name }

type preScoreState struct{ requests []int64 }

func (s *preScoreState) Clone() framework.StateData { return s }

// PreScore implements framework.PreScorePlugin: a pod that requests none of
// the resources has nothing to balance.
func (pl *BalancedAllocation) PreScore(_ context.Context, state *framework.CycleState, pod *v1.Pod, _ []*framework.NodeInfo) *framework.Status {
	req := &framework.PodInfoFor(state, pod).Requests
	reqs := make([]int64, len(pl.resources))
	any := false
	for i, r := range pl.resources {
		reqs[i] = req.Get(r)
		any = any || reqs[i] > 0
	}
	if !any {
		return framework.NewStatus(framework.Skip)
	}
	state.Write(stateKey, &preScoreState{requests: reqs})
	return nil
}

// Score implements framework.ScorePlugin: 100 * (1 - standard deviation of
// the requested fractions).
func (pl *BalancedAllocation) Score(_ context.Context, state *framework.CycleState, pod *v1.Pod, ni *framework.NodeInfo) (int64, *framework.Status) {
	d, err := state.Read(stateKey)
	if err != nil {
		return 0, framework.AsStatus(err)
	}
	reqs := d.(*preScoreState).requests
	var buf [4]float64
	fractions := buf[:0]
	for i, r := range pl.resources {
		alloc := ni.Allocatable.Get(r)
		if alloc == 0 {
			continue
		}
		f := float64(ni.Requested.Get(r)+reqs[i]) / float64(alloc)
		fractions = append(fractions, math.Min(f, 1))
	}
	return Score(fractions), nil
}

// Score turns requested fractions into a score; exported for tests.
func Score(fractions []float64) int64 {
	var std float64
	switch len(fractions) {
	case 0, 1:
	case 2:
		std = math.Abs(fractions[0]-fractions[1]) / 2
	default:
		var mean, sum float64
		for _, f := range fractions {
			mean += f
		}
		mean /= float64(len(fractions))
		for _, f := range fractions {
			sum += (f - mean) * (f - mean)
		}
		std = math.Sqrt(sum / float64(len(fractions)))
	}
	return int64((1 - std) * float64(framework.MaxNodeScore))
}

// ScoreExtensions implements framework.ScorePlugin.
func (*BalancedAllocation) ScoreExtensions() framework.ScoreExtensions { return nil }
