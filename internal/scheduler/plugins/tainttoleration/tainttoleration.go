// Package tainttoleration implements TaintToleration: a node's NoSchedule
// and NoExecute taints keep out pods that do not tolerate them, and
// untolerated PreferNoSchedule taints lower the node's score.
package tainttoleration

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"skiff/internal/scheduler/framework"
)

// Name is the plugin's name in configuration.
const Name = "TaintToleration"

const stateKey framework.StateKey = "PreScore" + Name

// TaintToleration is the plugin.
type TaintToleration struct {
	// rejections holds one shared Filter status per untolerated taint
	// (key and value), so that a fleet of tainted nodes does not format
	// the same message once per node and pod. Keyed by taintKey.
	rejections *sync.Map
	// cached counts the entries, bounded by maxCachedRejections.
	cached *atomic.Int32
}

const maxCachedRejections = 1024

type taintKey struct{ key, value string }

var (
	_ framework.FilterPlugin   = TaintToleration{}
	_ framework.PreScorePlugin = TaintToleration{}
	_ framework.ScorePlugin    = TaintToleration{}
)

// New builds the plugin.
func New(_ runtime.Object, _ framework.Handle) (framework.Plugin, error) {
	return TaintToleration{rejections: &sync.Map{}, cached: &atomic.Int32{}}, nil
}

// Name implements framework.Plugin.
func (TaintToleration) Name() string { return Name }

// Filter implements framework.FilterPlugin.
func (p TaintToleration) Filter(_ context.Context, _ *framework.CycleState, pod *v1.Pod, ni *framework.NodeInfo) *framework.Status {
	taints := ni.Taints()
	for i := range taints {
		t := &taints[i]
		if t.Effect != v1.TaintEffectNoSchedule && t.Effect != v1.TaintEffectNoExecute {
			continue
		}
		if !tolerates(pod.Spec.Tolerations, t) {
			return p.rejection(t)
		}
	}
	return nil
}

func tolerates(tols []v1.Toleration, t *v1.Taint) bool { return framework.Tolerates(tols, t) }

type preScoreState struct{ tolerations []v1.Toleration }

func (s *preScoreState) Clone() framework.StateData { return s }

// PreScore implements framework.PreScorePlugin: only tolerations of
// PreferNoSchedule (or of any effect) matter for the score.
func (TaintToleration) PreScore(_ context.Context, state *framework.CycleState, pod *v1.Pod, _ []*framework.NodeInfo) *framework.Status {
	var tols []v1.Toleration
	for _, t := range pod.Spec.Tolerations {
		if t.Effect == "" || t.Effect == v1.TaintEffectPreferNoSchedule {
			tols = append(tols, t)
		}
	}
	state.Write(stateKey, &preScoreState{tolerations: tols})
	return nil
}

// Score implements framework.ScorePlugin: the raw score counts untolerated
// PreferNoSchedule taints (normalised in reverse).
func (TaintToleration) Score(_ context.Context, state *framework.CycleState, _ *v1.Pod, ni *framework.NodeInfo) (int64, *framework.Status) {
	if len(ni.Taints()) == 0 {
		return 0, nil
	}
	d, err := state.Read(stateKey)
	if err != nil {
		return 0, framework.AsStatus(fmt.Errorf("read %s: %w", stateKey, err))
	}
	tols := d.(*preScoreState).tolerations
	var n int64
	taints := ni.Taints()
	for i := range taints {
		t := &taints[i]
		if t.Effect == v1.TaintEffectPreferNoSchedule && !tolerates(tols, t) {
			n++
		}
	}
	return n, nil
}

// ScoreExtensions implements framework.ScorePlugin.
func (p TaintToleration) ScoreExtensions() framework.ScoreExtensions { return p }

// NormalizeScore implements framework.ScoreExtensions: fewer untolerated
// taints score higher.
func (TaintToleration) NormalizeScore(_ context.Context, _ *framework.CycleState, _ *v1.Pod, scores []framework.NodeScore) *framework.Status {
	framework.DefaultNormalizeScore(framework.MaxNodeScore, true, scores)
	return nil
}

func (p TaintToleration) rejection(t *v1.Taint) *framework.Status {
	newStatus := func() *framework.Status {
		return framework.NewStatus(framework.UnschedulableAndUnresolvable,
			fmt.Sprintf("node(s) had untolerated taint {%s: %s}", t.Key, t.Value)).WithPlugin(Name)
	}
	if p.rejections == nil {
		return newStatus()
	}
	k := taintKey{t.Key, t.Value}
	if st, ok := p.rejections.Load(k); ok {
		return st.(*framework.Status)
	}
	if p.cached.Load() >= maxCachedRejections {
		return newStatus()
	}
	st, loaded := p.rejections.LoadOrStore(k, newStatus())
	if !loaded {
		p.cached.Add(1)
	}
	return st.(*framework.Status)
}
