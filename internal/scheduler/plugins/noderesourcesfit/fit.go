// Package noderesourcesfit implements NodeResourcesFit: the pod's requests
// (init containers, sidecars and overhead included) must fit in what the
// node has left, and nodes are scored by LeastAllocated (default),
// MostAllocated or RequestedToCapacityRatio.
package noderesourcesfit

import (
	"context"
	"fmt"
	"strings"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	configv1 "k8s.io/kube-scheduler/config/v1"

	"skiff/internal/scheduler/framework"
)

// Name is the plugin's name in configuration.
const Name = "NodeResourcesFit"

const (
	preFilterKey framework.StateKey = "PreFilter" + Name
	preScoreKey  framework.StateKey = "PreScore" + Name
)

// Fit is the plugin.
type Fit struct {
	ignored       map[string]bool
	ignoredGroups []string
	resources     []configv1.ResourceSpec
	weights       []int64
	strategy      configv1.ScoringStrategyType
	// ratio is the RequestedToCapacityRatio shape, set for that strategy.
	ratio func(utilization int64) int64
}

var (
	_ framework.PreFilterPlugin = (*Fit)(nil)
	_ framework.FilterPlugin    = (*Fit)(nil)
	_ framework.PreScorePlugin  = (*Fit)(nil)
	_ framework.ScorePlugin     = (*Fit)(nil)
)

// DefaultResources are scored when the strategy names none.
var defaultResources = []configv1.ResourceSpec{{Name: string(v1.ResourceCPU), Weight: 1}, {Name: string(v1.ResourceMemory), Weight: 1}}

// New builds the plugin; args may be *configv1.NodeResourcesFitArgs.
func New(args runtime.Object, _ framework.Handle) (framework.Plugin, error) {
	pl := &Fit{ignored: map[string]bool{}, resources: defaultResources}
	strategy := configv1.LeastAllocated
	var shape []configv1.UtilizationShapePoint
	if a, ok := args.(*configv1.NodeResourcesFitArgs); ok && a != nil {
		for _, r := range a.IgnoredResources {
			pl.ignored[r] = true
		}
		pl.ignoredGroups = a.IgnoredResourceGroups
		if s := a.ScoringStrategy; s != nil {
			if s.Type != "" {
				strategy = s.Type
			}
			if len(s.Resources) > 0 {
				pl.resources = s.Resources
			}
			if s.RequestedToCapacityRatio != nil {
				shape = s.RequestedToCapacityRatio.Shape
			}
		}
	}
	for i := range pl.resources {
		if pl.resources[i].Weight == 0 {
			pl.resources[i].Weight = 1
		}
	}
	pl.weights = make([]int64, len(pl.resources))
	for i, r := range pl.resources {
		pl.weights[i] = r.Weight
	}
	pl.strategy = strategy
	switch strategy {
	case configv1.LeastAllocated, configv1.MostAllocated:
	case configv1.RequestedToCapacityRatio:
		if len(shape) == 0 {
			return nil, fmt.Errorf("scoring strategy %s needs a shape", strategy)
		}
		pl.ratio = brokenLinear(shape)
	default:
		return nil, fmt.Errorf("unknown scoring strategy %q", strategy)
	}
	return pl, nil
}

// Name implements framework.Plugin.
func (*Fit) Name() string { return Name }

type preFilterState struct{ framework.Resource }

func (s *preFilterState) Clone() framework.StateData { return s }

// PreFilter implements framework.PreFilterPlugin.
func (pl *Fit) PreFilter(_ context.Context, state *framework.CycleState, pod *v1.Pod, _ []*framework.NodeInfo) (*framework.PreFilterResult, *framework.Status) {
	state.Write(preFilterKey, &preFilterState{framework.PodInfoFor(state, pod).Requests})
	return nil, nil
}

// PreFilterExtensions implements framework.PreFilterPlugin.
func (*Fit) PreFilterExtensions() framework.PreFilterExtensions { return nil }

// InsufficientResource is one reason a node does not fit.
type InsufficientResource struct {
	Name      v1.ResourceName
	Reason    string
	Requested int64
	Used      int64
	Capacity  int64
}

// Fits returns what is short on the node for req; exported for preemption
// and tests.
func (pl *Fit) Fits(req *framework.Resource, ni *framework.NodeInfo) []InsufficientResource {
	var out []InsufficientResource
	alloc := &ni.Allocatable
	if int64(len(ni.Pods))+1 > alloc.AllowedPodNumber {
		out = append(out, InsufficientResource{Name: v1.ResourcePods, Reason: "Too many pods", Requested: 1, Used: int64(len(ni.Pods)), Capacity: alloc.AllowedPodNumber})
	}
	check := func(name v1.ResourceName, want, have, used int64) {
		if want > 0 && want > have-used {
			out = append(out, InsufficientResource{Name: name, Reason: "Insufficient " + string(name), Requested: want, Used: used, Capacity: have})
		}
	}
	check(v1.ResourceCPU, req.MilliCPU, alloc.MilliCPU, ni.Requested.MilliCPU)
	check(v1.ResourceMemory, req.Memory, alloc.Memory, ni.Requested.Memory)
	check(v1.ResourceEphemeralStorage, req.EphemeralStorage, alloc.EphemeralStorage, ni.Requested.EphemeralStorage)
	for name, want := range req.Scalar {
		if pl.ignored[string(name)] || pl.ignoredGroup(name) {
			continue
		}
		check(name, want, alloc.Scalar[name], ni.Requested.Scalar[name])
	}
	return out
}

func (pl *Fit) ignoredGroup(name v1.ResourceName) bool {
	s := string(name)
	if i := strings.IndexByte(s, '/'); i > 0 {
		for _, g := range pl.ignoredGroups {
			if s[:i] == g {
				return true
			}
		}
	}
	return false
}

// Filter implements framework.FilterPlugin.
func (pl *Fit) Filter(_ context.Context, state *framework.CycleState, pod *v1.Pod, ni *framework.NodeInfo) *framework.Status {
	var req *framework.Resource
	if d, err := state.Read(preFilterKey); err == nil {
		req = &d.(*preFilterState).Resource
	} else {
		r, _ := framework.PodRequests(pod)
		req = &r
	}
	short := pl.Fits(req, ni)
	if len(short) == 0 {
		return nil
	}
	reasons := make([]string, len(short))
	code := framework.Unschedulable
	for i, s := range short {
		reasons[i] = s.Reason
		// No amount of preemption helps a pod larger than the node.
		if s.Name != v1.ResourcePods && s.Requested > s.Capacity {
			code = framework.UnschedulableAndUnresolvable
		}
	}
	return framework.NewStatus(code, reasons...)
}

type preScoreState struct{ requests []int64 }

func (s *preScoreState) Clone() framework.StateData { return s }

// PreScore implements framework.PreScorePlugin.
func (pl *Fit) PreScore(_ context.Context, state *framework.CycleState, pod *v1.Pod, _ []*framework.NodeInfo) *framework.Status {
	pi := framework.PodInfoFor(state, pod)
	state.Write(preScoreKey, &preScoreState{requests: podScoreRequests(pl.resources, &pi.Requests, &pi.NonZeroRequests)})
	return nil
}

// podScoreRequests lists the pod's requests for the scored resources, CPU
// and memory with the non-zero defaults so empty pods still spread.
func podScoreRequests(resources []configv1.ResourceSpec, req, nz *framework.Resource) []int64 {
	out := make([]int64, len(resources))
	for i, r := range resources {
		switch v1.ResourceName(r.Name) {
		case v1.ResourceCPU:
			out[i] = nz.MilliCPU
		case v1.ResourceMemory:
			out[i] = nz.Memory
		default:
			out[i] = req.Get(v1.ResourceName(r.Name))
		}
	}
	return out
}

// Score implements framework.ScorePlugin.
func (pl *Fit) Score(_ context.Context, state *framework.CycleState, pod *v1.Pod, ni *framework.NodeInfo) (int64, *framework.Status) {
	var podReq []int64
	if d, err := state.Read(preScoreKey); err == nil {
		podReq = d.(*preScoreState).requests
	} else {
		req, nz := framework.PodRequests(pod)
		podReq = podScoreRequests(pl.resources, &req, &nz)
	}
	// Small fixed buffers keep the per-node score allocation-free.
	var reqBuf, allocBuf [8]int64
	requested, alloc := reqBuf[:0], allocBuf[:0]
	if len(pl.resources) > len(reqBuf) {
		requested, alloc = make([]int64, 0, len(pl.resources)), make([]int64, 0, len(pl.resources))
	}
	requested, alloc = requested[:len(pl.resources)], alloc[:len(pl.resources)]
	for i, r := range pl.resources {
		name := v1.ResourceName(r.Name)
		alloc[i] = ni.Allocatable.Get(name)
		switch name {
		case v1.ResourceCPU, v1.ResourceMemory:
			requested[i] = ni.NonZeroRequested.Get(name) + podReq[i]
		default:
			requested[i] = ni.Requested.Get(name) + podReq[i]
		}
	}
	return pl.score(requested, alloc), nil
}

// score applies the scoring strategy. It is a method rather than a stored
// closure so that the per-node buffers stay on the stack.
func (pl *Fit) score(requested, alloc []int64) int64 {
	switch pl.strategy {
	case configv1.MostAllocated:
		return weighted(pl.weights, requested, alloc, mostRequested)
	case configv1.RequestedToCapacityRatio:
		return weighted(pl.weights, requested, alloc, func(r, a int64) int64 {
			if a == 0 {
				return 0
			}
			return pl.ratio(min(r, a) * 100 / a)
		})
	}
	return weighted(pl.weights, requested, alloc, leastRequested)
}

// ScoreExtensions implements framework.ScorePlugin.
func (*Fit) ScoreExtensions() framework.ScoreExtensions { return nil }

// weighted averages per-resource scores by weight, skipping resources the
// node does not have.
func weighted(weights, req, alloc []int64, f func(r, a int64) int64) int64 {
	var score, sum int64
	for i := range req {
		if alloc[i] == 0 {
			continue
		}
		score += f(req[i], alloc[i]) * weights[i]
		sum += weights[i]
	}
	if sum == 0 {
		return 0
	}
	return score / sum
}

func leastRequested(r, a int64) int64 {
	if r > a {
		return 0
	}
	return (a - r) * framework.MaxNodeScore / a
}

func mostRequested(r, a int64) int64 {
	if r > a {
		return 0
	}
	return r * framework.MaxNodeScore / a
}

// brokenLinear interpolates the shape (utilization 0-100 to score 0-10),
// scaled to 0-100.
func brokenLinear(shape []configv1.UtilizationShapePoint) func(int64) int64 {
	return func(p int64) int64 {
		for i, pt := range shape {
			if p <= int64(pt.Utilization) {
				if i == 0 {
					return int64(shape[0].Score) * 10
				}
				prev := shape[i-1]
				span := int64(pt.Utilization - prev.Utilization)
				s := int64(prev.Score)*10 + int64(pt.Score-prev.Score)*10*(p-int64(prev.Utilization))/span
				return s
			}
		}
		return int64(shape[len(shape)-1].Score) * 10
	}
}
