// Package podtopologyspread implements PodTopologySpread: pods matching a
// constraint's selector are kept within maxSkew of each other across the
// constraint's topology domains (DoNotSchedule filters, ScheduleAnyway
// scores), with minDomains, nodeAffinityPolicy/nodeTaintsPolicy and, for
// pods with no constraints, the cluster default constraints built from the
// Services and controllers that select the pod.
package podtopologyspread

import (
	"context"
	"fmt"
	"math"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/selection"
	appslisters "k8s.io/client-go/listers/apps/v1"
	listersv1 "k8s.io/client-go/listers/core/v1"
	"k8s.io/component-helpers/scheduling/corev1/nodeaffinity"
	configv1 "k8s.io/kube-scheduler/config/v1"

	"skiff/internal/scheduler/framework"
)

// Name is the plugin's name in configuration.
const Name = "PodTopologySpread"

// User-visible reasons, as upstream.
const (
	ErrReasonConstraintsNotMatch = "node(s) didn't match pod topology spread constraints"
	ErrReasonNodeLabelNotMatch   = ErrReasonConstraintsNotMatch + " (missing required label)"
)

const (
	preFilterKey framework.StateKey = "PreFilter" + Name
	preScoreKey  framework.StateKey = "PreScore" + Name
)

// systemDefaultConstraints are upstream's cluster defaults.
var systemDefaultConstraints = []v1.TopologySpreadConstraint{
	{TopologyKey: v1.LabelTopologyZone, WhenUnsatisfiable: v1.ScheduleAnyway, MaxSkew: 5},
	{TopologyKey: v1.LabelHostname, WhenUnsatisfiable: v1.ScheduleAnyway, MaxSkew: 3},
}

// PodTopologySpread is the plugin.
type PodTopologySpread struct {
	h framework.Handle
	// errSkew is Filter's usual rejection, built once and shared.
	errSkew  *framework.Status
	defaults []v1.TopologySpreadConstraint
	services listersv1.ServiceLister
	rcs      listersv1.ReplicationControllerLister
	rss      appslisters.ReplicaSetLister
	sss      appslisters.StatefulSetLister
}

var (
	_ framework.PreFilterPlugin = (*PodTopologySpread)(nil)
	_ framework.FilterPlugin    = (*PodTopologySpread)(nil)
	_ framework.PreScorePlugin  = (*PodTopologySpread)(nil)
	_ framework.ScorePlugin     = (*PodTopologySpread)(nil)
)

// New builds the plugin; args may be *configv1.PodTopologySpreadArgs.
func New(args runtime.Object, h framework.Handle) (framework.Plugin, error) {
	pl := &PodTopologySpread{h: h, defaults: systemDefaultConstraints,
		errSkew: framework.NewStatus(framework.Unschedulable, ErrReasonConstraintsNotMatch).WithPlugin(Name)}
	if a, ok := args.(*configv1.PodTopologySpreadArgs); ok && a != nil && a.DefaultingType == configv1.ListDefaulting {
		pl.defaults = a.DefaultConstraints
		for _, c := range pl.defaults {
			if c.LabelSelector != nil {
				return nil, fmt.Errorf("default constraint %s: labelSelector must be empty", c.TopologyKey)
			}
		}
	}
	if len(pl.defaults) > 0 && h != nil && h.SharedInformerFactory() != nil {
		f := h.SharedInformerFactory()
		pl.services = f.Core().V1().Services().Lister()
		pl.rcs = f.Core().V1().ReplicationControllers().Lister()
		pl.rss = f.Apps().V1().ReplicaSets().Lister()
		pl.sss = f.Apps().V1().StatefulSets().Lister()
		f.Core().V1().Services().Informer()
		f.Core().V1().ReplicationControllers().Informer()
		f.Apps().V1().ReplicaSets().Informer()
		f.Apps().V1().StatefulSets().Informer()
	}
	return pl, nil
}

// Name implements framework.Plugin.
func (*PodTopologySpread) Name() string { return Name }

type constraint struct {
	maxSkew       int32
	key           string
	selector      framework.LabelQuery
	minDomains    int32
	honorAffinity bool
	honorTaints   bool
}

func (pl *PodTopologySpread) constraints(pod *v1.Pod, when v1.UnsatisfiableConstraintAction) ([]constraint, error) {
	var out []constraint
	if len(pod.Spec.TopologySpreadConstraints) > 0 {
		for _, c := range pod.Spec.TopologySpreadConstraints {
			if c.WhenUnsatisfiable != when {
				continue
			}
			sel, err := metav1.LabelSelectorAsSelector(c.LabelSelector)
			if err != nil {
				return nil, fmt.Errorf("parse topology spread selector: %w", err)
			}
			for _, k := range c.MatchLabelKeys {
				if v, ok := pod.Labels[k]; ok {
					if r, err := labels.NewRequirement(k, selection.In, []string{v}); err == nil {
						sel = sel.Add(*r)
					}
				}
			}
			out = append(out, newConstraint(c, sel))
		}
		return out, nil
	}
	// Defaults apply only to pods without any constraint of their own.
	var sel labels.Selector
	for _, c := range pl.defaults {
		if c.WhenUnsatisfiable != when {
			continue
		}
		if sel == nil {
			sel = pl.defaultSelector(pod)
		}
		if sel.Empty() {
			return nil, nil
		}
		out = append(out, newConstraint(c, sel))
	}
	return out, nil
}

func newConstraint(c v1.TopologySpreadConstraint, sel labels.Selector) constraint {
	out := constraint{maxSkew: c.MaxSkew, key: c.TopologyKey, selector: framework.NewLabelQuery(sel), minDomains: 1, honorAffinity: true}
	if c.MinDomains != nil {
		out.minDomains = *c.MinDomains
	}
	if c.NodeAffinityPolicy != nil && *c.NodeAffinityPolicy == v1.NodeInclusionPolicyIgnore {
		out.honorAffinity = false
	}
	if c.NodeTaintsPolicy != nil && *c.NodeTaintsPolicy == v1.NodeInclusionPolicyHonor {
		out.honorTaints = true
	}
	return out
}

// defaultSelector merges the selectors of the Services, ReplicationControllers,
// ReplicaSets and StatefulSets that select the pod.
func (pl *PodTopologySpread) defaultSelector(pod *v1.Pod) labels.Selector {
	sel := labels.NewSelector()
	if pl.services == nil {
		return sel
	}
	set := labels.Set(pod.Labels)
	addMap := func(m map[string]string) {
		for k, v := range m {
			if r, err := labels.NewRequirement(k, selection.Equals, []string{v}); err == nil {
				sel = sel.Add(*r)
			}
		}
	}
	if svcs, err := pl.services.Services(pod.Namespace).List(labels.Everything()); err == nil {
		for _, s := range svcs {
			if len(s.Spec.Selector) > 0 && subset(s.Spec.Selector, set) {
				addMap(s.Spec.Selector)
			}
		}
	}
	if rcs, err := pl.rcs.ReplicationControllers(pod.Namespace).List(labels.Everything()); err == nil {
		for _, rc := range rcs {
			if len(rc.Spec.Selector) > 0 && subset(rc.Spec.Selector, set) {
				addMap(rc.Spec.Selector)
			}
		}
	}
	addLS := func(ls *metav1.LabelSelector) {
		// Most of a namespace's selectors fail on their matchLabels:
		// those are checked before any selector is built.
		if ls == nil || !subset(ls.MatchLabels, set) {
			return
		}
		s, err := metav1.LabelSelectorAsSelector(ls)
		if err != nil || s.Empty() || !s.Matches(set) {
			return
		}
		reqs, _ := s.Requirements()
		sel = sel.Add(reqs...)
	}
	if rss, err := pl.rss.ReplicaSets(pod.Namespace).List(labels.Everything()); err == nil {
		for _, rs := range rss {
			addLS(rs.Spec.Selector)
		}
	}
	if sss, err := pl.sss.StatefulSets(pod.Namespace).List(labels.Everything()); err == nil {
		for _, ss := range sss {
			addLS(ss.Spec.Selector)
		}
	}
	return sel
}

// subset: every key of m is in set with the same value.
func subset(m map[string]string, set labels.Set) bool {
	for k, v := range m {
		if got, ok := set[k]; !ok || got != v {
			return false
		}
	}
	return true
}

// includes applies the node inclusion policies.
func includes(c *constraint, pod *v1.Pod, required nodeaffinity.RequiredNodeAffinity, node *v1.Node) bool {
	if c.honorAffinity {
		if ok, _ := required.Match(node); !ok {
			return false
		}
	}
	if c.honorTaints {
		for i := range node.Spec.Taints {
			t := &node.Spec.Taints[i]
			if (t.Effect == v1.TaintEffectNoSchedule || t.Effect == v1.TaintEffectNoExecute) && !framework.Tolerates(pod.Spec.Tolerations, t) {
				return false
			}
		}
	}
	return true
}

func hasAllKeys(node *v1.Node, cs []constraint) bool {
	for _, c := range cs {
		if _, ok := node.Labels[c.key]; !ok {
			return false
		}
	}
	return true
}

// count adds, per constraint and domain, the pods matching the
// constraint's selector on every eligible node of the snapshot (only in
// the given domains when domains is not nil). Nodes are counted in
// parallel, then summed.
func (pl *PodTopologySpread) count(ctx context.Context, pod *v1.Pod, cs []constraint, required nodeaffinity.RequiredNodeAffinity, domains []map[string]bool, out []map[string]int64) {
	lister := pl.h.SnapshotSharedLister()
	if idx, ok := lister.(framework.TopologyIndex); ok && indexable(pod, cs) {
		countIndexed(idx, pod, cs, domains, out)
		return
	}
	nodes := lister.List()
	k := len(cs)
	perNode := make([]int64, len(nodes)*k)
	eligible := make([]bool, len(nodes)*k)
	pl.h.Parallelize(ctx, len(nodes), func(n int) {
		ni := nodes[n]
		node := ni.Node()
		if !hasAllKeys(node, cs) {
			return
		}
		for i := range cs {
			if domains != nil && !domains[i][node.Labels[cs[i].key]] {
				continue
			}
			if !includes(&cs[i], pod, required, node) {
				continue
			}
			eligible[n*k+i] = true
			if len(ni.Pods) > 0 {
				perNode[n*k+i] = ni.CountPods(pod.Namespace, cs[i].selector)
			}
		}
	})
	for n, ni := range nodes {
		for i := range cs {
			if eligible[n*k+i] {
				out[i][ni.Node().Labels[cs[i].key]] += perNode[n*k+i]
			}
		}
	}
}

// indexable reports whether count can use the snapshot's index: every
// selector a single "key = value", and every node eligible for every
// constraint as soon as it has the constraints' keys (no node affinity to
// honour, no taints to honour).
func indexable(pod *v1.Pod, cs []constraint) bool {
	a := pod.Spec.Affinity
	hasRequired := len(pod.Spec.NodeSelector) > 0 || (a != nil && a.NodeAffinity != nil && a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution != nil)
	for i := range cs {
		if _, _, ok := cs[i].selector.Single(); !ok || cs[i].honorTaints || (cs[i].honorAffinity && hasRequired) {
			return false
		}
	}
	return true
}

// countIndexed is count from the snapshot's index: the eligible domains
// (when domains is nil, every one gets an entry, as the walk gives them),
// then the pods of only the nodes that have matching ones.
func countIndexed(idx framework.TopologyIndex, pod *v1.Pod, cs []constraint, domains []map[string]bool, out []map[string]int64) {
	keys := make([]string, len(cs))
	for i := range cs {
		keys[i] = cs[i].key
	}
	for i := range cs {
		if domains == nil {
			for _, v := range idx.Domains(keys, cs[i].key) {
				out[i][v] += 0
			}
		}
		k, v, _ := cs[i].selector.Single()
		for ni, c := range idx.NodesWithPodLabel(pod.Namespace, k, v) {
			node := ni.Node()
			if !hasAllKeys(node, cs) {
				continue
			}
			d := node.Labels[cs[i].key]
			if domains != nil && !domains[i][d] {
				continue
			}
			out[i][d] += int64(c)
		}
	}
}

type preFilterState struct {
	constraints []constraint
	// counts[i] maps a domain of constraint i to its matching pods.
	counts   []map[string]int64
	required nodeaffinity.RequiredNodeAffinity
	// mins[i] is minMatch(i), kept with the counts; self[i] is 1 when the
	// incoming pod matches constraint i's selector. Filter, which runs per
	// node, only reads them.
	mins, self []int64
}

func (s *preFilterState) Clone() framework.StateData {
	out := &preFilterState{constraints: s.constraints, required: s.required, counts: make([]map[string]int64, len(s.counts)),
		mins: append([]int64(nil), s.mins...), self: s.self}
	for i, m := range s.counts {
		out.counts[i] = make(map[string]int64, len(m))
		for k, v := range m {
			out.counts[i][k] = v
		}
	}
	return out
}

func (s *preFilterState) updateMins() {
	s.mins = s.mins[:0]
	for i := range s.counts {
		s.mins = append(s.mins, s.minMatch(i))
	}
}

func (s *preFilterState) minMatch(i int) int64 {
	if int32(len(s.counts[i])) < s.constraints[i].minDomains {
		return 0
	}
	first := true
	var m int64
	for _, v := range s.counts[i] {
		if first || v < m {
			m, first = v, false
		}
	}
	return m
}

// PreFilter implements framework.PreFilterPlugin.
func (pl *PodTopologySpread) PreFilter(ctx context.Context, state *framework.CycleState, pod *v1.Pod, _ []*framework.NodeInfo) (*framework.PreFilterResult, *framework.Status) {
	cs, err := pl.constraints(pod, v1.DoNotSchedule)
	if err != nil {
		return nil, framework.NewStatus(framework.UnschedulableAndUnresolvable, err.Error())
	}
	if len(cs) == 0 {
		return nil, framework.NewStatus(framework.Skip)
	}
	s := &preFilterState{constraints: cs, counts: make([]map[string]int64, len(cs)), required: nodeaffinity.GetRequiredNodeAffinity(pod)}
	for i := range s.counts {
		s.counts[i] = map[string]int64{}
	}
	pl.count(ctx, pod, cs, s.required, nil, s.counts)
	s.updateMins()
	s.self = make([]int64, len(cs))
	for i := range cs {
		if cs[i].selector.Matches(pod.Labels) {
			s.self[i] = 1
		}
	}
	state.Write(preFilterKey, s)
	return nil, nil
}

// PreFilterExtensions implements framework.PreFilterPlugin.
func (pl *PodTopologySpread) PreFilterExtensions() framework.PreFilterExtensions { return pl }

// AddPod implements framework.PreFilterExtensions.
func (pl *PodTopologySpread) AddPod(_ context.Context, state *framework.CycleState, pod *v1.Pod, add *framework.PodInfo, ni *framework.NodeInfo) *framework.Status {
	return update(state, pod, add.Pod, ni.Node(), 1)
}

// RemovePod implements framework.PreFilterExtensions.
func (pl *PodTopologySpread) RemovePod(_ context.Context, state *framework.CycleState, pod *v1.Pod, rm *framework.PodInfo, ni *framework.NodeInfo) *framework.Status {
	return update(state, pod, rm.Pod, ni.Node(), -1)
}

func update(state *framework.CycleState, pod, changed *v1.Pod, node *v1.Node, delta int64) *framework.Status {
	d, err := state.Read(preFilterKey)
	if err != nil {
		return nil
	}
	s := d.(*preFilterState)
	if changed.Namespace != pod.Namespace || !hasAllKeys(node, s.constraints) {
		return nil
	}
	for i := range s.constraints {
		c := &s.constraints[i]
		if includes(c, pod, s.required, node) && c.selector.Matches(changed.Labels) {
			s.counts[i][node.Labels[c.key]] += delta
		}
	}
	s.updateMins()
	return nil
}

// Filter implements framework.FilterPlugin.
func (pl *PodTopologySpread) Filter(_ context.Context, state *framework.CycleState, pod *v1.Pod, ni *framework.NodeInfo) *framework.Status {
	d, err := state.Read(preFilterKey)
	if err != nil {
		return framework.AsStatus(fmt.Errorf("read %s: %w", preFilterKey, err))
	}
	s := d.(*preFilterState)
	node := ni.Node()
	for i := range s.constraints {
		c := &s.constraints[i]
		v, ok := node.Labels[c.key]
		if !ok {
			return framework.NewStatus(framework.UnschedulableAndUnresolvable, ErrReasonNodeLabelNotMatch)
		}
		if skew := s.counts[i][v] + s.self[i] - s.mins[i]; skew > int64(c.maxSkew) {
			return pl.errSkew
		}
	}
	return nil
}

type preScoreState struct {
	constraints []constraint
	counts      []map[string]int64
	weights     []float64
	ignored     map[string]bool
}

func (s *preScoreState) Clone() framework.StateData { return s }

// PreScore implements framework.PreScorePlugin.
func (pl *PodTopologySpread) PreScore(ctx context.Context, state *framework.CycleState, pod *v1.Pod, nodes []*framework.NodeInfo) *framework.Status {
	cs, err := pl.constraints(pod, v1.ScheduleAnyway)
	if err != nil {
		return framework.AsStatus(err)
	}
	if len(cs) == 0 {
		return framework.NewStatus(framework.Skip)
	}
	s := &preScoreState{constraints: cs, counts: make([]map[string]int64, len(cs)), weights: make([]float64, len(cs)), ignored: map[string]bool{}}
	domains := make([]map[string]bool, len(cs))
	for i := range cs {
		s.counts[i] = map[string]int64{}
		// Sized for the worst case (a hostname key: one domain per node),
		// so that the map is not regrown while filling.
		domains[i] = make(map[string]bool, len(nodes))
	}
	for _, ni := range nodes {
		node := ni.Node()
		if !hasAllKeys(node, cs) {
			s.ignored[node.Name] = true
			continue
		}
		for i := range cs {
			domains[i][node.Labels[cs[i].key]] = true
		}
	}
	for i := range cs {
		s.weights[i] = math.Log(float64(len(domains[i]) + 2))
	}
	pl.count(ctx, pod, cs, nodeaffinity.GetRequiredNodeAffinity(pod), domains, s.counts)
	state.Write(preScoreKey, s)
	return nil
}

// Score implements framework.ScorePlugin: more matching pods in the node's
// domains means a higher raw score (inverted when normalising).
func (pl *PodTopologySpread) Score(_ context.Context, state *framework.CycleState, _ *v1.Pod, ni *framework.NodeInfo) (int64, *framework.Status) {
	d, err := state.Read(preScoreKey)
	if err != nil {
		return 0, framework.AsStatus(fmt.Errorf("read %s: %w", preScoreKey, err))
	}
	s := d.(*preScoreState)
	node := ni.Node()
	if s.ignored[node.Name] {
		return 0, nil
	}
	var score float64
	for i, c := range s.constraints {
		cnt := s.counts[i][node.Labels[c.key]]
		score += float64(cnt)*s.weights[i] + float64(c.maxSkew-1)
	}
	return int64(math.Round(score)), nil
}

// ScoreExtensions implements framework.ScorePlugin.
func (pl *PodTopologySpread) ScoreExtensions() framework.ScoreExtensions { return pl }

// NormalizeScore implements framework.ScoreExtensions.
func (pl *PodTopologySpread) NormalizeScore(_ context.Context, state *framework.CycleState, _ *v1.Pod, scores []framework.NodeScore) *framework.Status {
	d, err := state.Read(preScoreKey)
	if err != nil {
		return framework.AsStatus(err)
	}
	s := d.(*preScoreState)
	var lo, hi int64 = math.MaxInt64, math.MinInt64
	for _, sc := range scores {
		if s.ignored[sc.Name] {
			continue
		}
		lo, hi = min(lo, sc.Score), max(hi, sc.Score)
	}
	for i := range scores {
		if s.ignored[scores[i].Name] {
			scores[i].Score = 0
			continue
		}
		if hi == 0 {
			scores[i].Score = framework.MaxNodeScore
			continue
		}
		scores[i].Score = framework.MaxNodeScore * (hi + lo - scores[i].Score) / hi
	}
	return nil
}
