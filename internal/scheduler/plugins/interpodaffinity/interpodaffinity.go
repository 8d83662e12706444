// Package interpodaffinity implements InterPodAffinity: required pod
// affinity and anti-affinity (the incoming pod's, and existing pods'
// anti-affinity against it) filter nodes by topology domain; preferred
// terms, both ways, score them.
package interpodaffinity

import (
	"context"
	"fmt"
	"slices"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	listersv1 "k8s.io/client-go/listers/core/v1"
	configv1 "k8s.io/kube-scheduler/config/v1"

	"skiff/internal/scheduler/framework"
)

// Name is the plugin's name in configuration.
const Name = "InterPodAffinity"

// User-visible reasons, as upstream.
const (
	ErrReasonExistingAntiAffinityRulesNotMatch = "node(s) didn't satisfy existing pods anti-affinity rules"
	ErrReasonAffinityRulesNotMatch             = "node(s) didn't match pod affinity rules"
	ErrReasonAntiAffinityRulesNotMatch         = "node(s) didn't match pod anti-affinity rules"
)

const (
	preFilterKey framework.StateKey = "PreFilter" + Name
	preScoreKey  framework.StateKey = "PreScore" + Name
)

// InterPodAffinity is the plugin.
type InterPodAffinity struct {
	h framework.Handle
	// errExisting and errAnti are Filter's usual rejections, built once
	// and shared.
	errExisting, errAnti  *framework.Status
	hardPodAffinityWeight int32
	nsLister              listersv1.NamespaceLister
}

var (
	_ framework.PreFilterPlugin = (*InterPodAffinity)(nil)
	_ framework.FilterPlugin    = (*InterPodAffinity)(nil)
	_ framework.PreScorePlugin  = (*InterPodAffinity)(nil)
	_ framework.ScorePlugin     = (*InterPodAffinity)(nil)
)

// New builds the plugin; args may be *configv1.InterPodAffinityArgs.
func New(args runtime.Object, h framework.Handle) (framework.Plugin, error) {
	pl := &InterPodAffinity{h: h, hardPodAffinityWeight: 1,
		errExisting: framework.NewStatus(framework.Unschedulable, ErrReasonExistingAntiAffinityRulesNotMatch).WithPlugin(Name),
		errAnti:     framework.NewStatus(framework.Unschedulable, ErrReasonAntiAffinityRulesNotMatch).WithPlugin(Name)}
	if a, ok := args.(*configv1.InterPodAffinityArgs); ok && a != nil && a.HardPodAffinityWeight != nil {
		pl.hardPodAffinityWeight = *a.HardPodAffinityWeight
	}
	if h != nil && h.SharedInformerFactory() != nil {
		ns := h.SharedInformerFactory().Core().V1().Namespaces()
		ns.Informer()
		pl.nsLister = ns.Lister()
	}
	return pl, nil
}

// Name implements framework.Plugin.
func (*InterPodAffinity) Name() string { return Name }

func (pl *InterPodAffinity) nsLabels(ns string) labels.Set {
	if pl.nsLister == nil {
		return labels.Set{}
	}
	n, err := pl.nsLister.Get(ns)
	if err != nil {
		return labels.Set{}
	}
	return n.Labels
}

// resolveNamespaces returns copies of the terms with each namespace
// selector folded into the namespace list, so that matching an existing
// pod needs no lookup.
func (pl *InterPodAffinity) resolveNamespaces(in []framework.AffinityTerm) []framework.AffinityTerm {
	if pl.nsLister == nil || len(in) == 0 {
		return in
	}
	terms := make([]framework.AffinityTerm, len(in))
	copy(terms, in)
	for i := range terms {
		terms[i].Namespaces = terms[i].Namespaces.Clone()
		nss, err := pl.nsLister.List(terms[i].NamespaceSelector)
		if err != nil {
			continue
		}
		for _, n := range nss {
			terms[i].Namespaces.Insert(n.Name)
		}
		// Resolved: the namespace list is now complete.
		terms[i].NamespaceSelector = labels.Nothing()
		terms[i].HasNamespaceSelector = false
	}
	return terms
}

func (pl *InterPodAffinity) resolveWeighted(in []framework.WeightedAffinityTerm) []framework.WeightedAffinityTerm {
	out := make([]framework.WeightedAffinityTerm, len(in))
	for i := range in {
		out[i] = framework.WeightedAffinityTerm{AffinityTerm: pl.resolveNamespaces([]framework.AffinityTerm{in[i].AffinityTerm})[0], Weight: in[i].Weight}
	}
	return out
}

type topologyPair struct{ key, value string }

type counts map[topologyPair]int64

func (c counts) clone() counts {
	out := make(counts, len(c))
	for k, v := range c {
		out[k] = v
	}
	return out
}

func (c counts) update(node *v1.Node, terms []framework.AffinityTerm, delta int64) {
	for _, t := range terms {
		if v, ok := node.Labels[t.TopologyKey]; ok {
			p := topologyPair{t.TopologyKey, v}
			c[p] += delta
			if c[p] == 0 {
				delete(c, p)
			}
		}
	}
}

type preFilterState struct {
	// existingAntiAffinity counts existing pods whose required
	// anti-affinity matches the incoming pod, per topology pair.
	existingAntiAffinity counts
	// affinity counts existing pods matching all of the incoming pod's
	// required affinity terms; antiAffinity those matching any of its
	// anti-affinity terms.
	affinity, antiAffinity counts
	podInfo                *framework.PodInfo
	nsLabels               labels.Set
	// existingKeys are the topology keys in existingAntiAffinity, so that
	// Filter looks up one pair per key instead of one per node label.
	existingKeys []string
}

func (s *preFilterState) updateKeys() {
	s.existingKeys = nil
	for p, n := range s.existingAntiAffinity {
		if n > 0 && !slices.Contains(s.existingKeys, p.key) {
			s.existingKeys = append(s.existingKeys, p.key)
		}
	}
}

func (s *preFilterState) Clone() framework.StateData {
	return &preFilterState{
		existingAntiAffinity: s.existingAntiAffinity.clone(),
		affinity:             s.affinity.clone(),
		antiAffinity:         s.antiAffinity.clone(),
		podInfo:              s.podInfo,
		nsLabels:             s.nsLabels,
		existingKeys:         s.existingKeys,
	}
}

func matchesAll(terms []framework.AffinityTerm, pod *v1.Pod, nsLabels labels.Set) bool {
	if len(terms) == 0 {
		return false
	}
	for i := range terms {
		if !terms[i].Matches(pod, nsLabels) {
			return false
		}
	}
	return true
}

// PreFilter implements framework.PreFilterPlugin.
func (pl *InterPodAffinity) PreFilter(_ context.Context, state *framework.CycleState, pod *v1.Pod, nodes []*framework.NodeInfo) (*framework.PreFilterResult, *framework.Status) {
	shared := framework.PodInfoFor(state, pod)
	if shared.ParseError != nil {
		return nil, framework.NewStatus(framework.UnschedulableAndUnresolvable, shared.ParseError.Error())
	}
	lister := pl.h.SnapshotSharedLister()
	withAnti := lister.HavePodsWithRequiredAntiAffinityList()
	if len(shared.RequiredAffinityTerms) == 0 && len(shared.RequiredAntiAffinityTerms) == 0 && len(withAnti) == 0 {
		return nil, framework.NewStatus(framework.Skip)
	}
	cp := *shared
	pi := &cp
	pi.RequiredAffinityTerms = pl.resolveNamespaces(pi.RequiredAffinityTerms)
	pi.RequiredAntiAffinityTerms = pl.resolveNamespaces(pi.RequiredAntiAffinityTerms)
	s := &preFilterState{
		existingAntiAffinity: counts{}, affinity: counts{}, antiAffinity: counts{},
		podInfo: pi, nsLabels: pl.nsLabels(pod.Namespace),
	}
	idx, indexed := lister.(framework.TopologyIndex)
	if indexed && len(withAnti) > 0 {
		// Only nodes with a term that may select this pod.
		withAnti = idx.NodesWithAntiAffinityFor(pod.Labels)
	}
	for _, ni := range withAnti {
		for _, existing := range ni.PodsWithRequiredAntiAffinity {
			s.addExisting(ni.Node(), existing, 1)
		}
	}
	if indexed && s.countable() {
		s.addIndexedCounts(idx)
	} else if len(pi.RequiredAffinityTerms) > 0 || len(pi.RequiredAntiAffinityTerms) > 0 {
		for _, ni := range lister.List() {
			if len(ni.Pods) == 0 {
				continue
			}
			if s.countable() {
				s.addIncomingCounts(ni)
				continue
			}
			for _, existing := range ni.Pods {
				s.addIncoming(ni.Node(), existing.Pod, 1)
			}
		}
	}
	s.updateKeys()
	state.Write(preFilterKey, s)
	return nil, nil
}

func (s *preFilterState) addExisting(node *v1.Node, existing *framework.PodInfo, delta int64) {
	for _, t := range existing.RequiredAntiAffinityTerms {
		if t.Matches(s.podInfo.Pod, s.nsLabels) {
			s.existingAntiAffinity.update(node, []framework.AffinityTerm{t}, delta)
		}
	}
}

// countable reports whether the incoming pod's required terms can be
// evaluated from the nodes' label index: at most one affinity term, and
// every term a single-label selector over a known namespace list.
func (s *preFilterState) countable() bool {
	pi := s.podInfo
	if len(pi.RequiredAffinityTerms) > 1 {
		return false
	}
	for _, ts := range [][]framework.AffinityTerm{pi.RequiredAffinityTerms, pi.RequiredAntiAffinityTerms} {
		for _, t := range ts {
			if t.HasNamespaceSelector {
				return false
			}
			if _, _, ok := t.Query.Single(); !ok {
				return false
			}
		}
	}
	return true
}

func countTerm(ni *framework.NodeInfo, t *framework.AffinityTerm) int64 {
	var c int64
	for ns := range t.Namespaces {
		c += ni.CountPods(ns, t.Query)
	}
	return c
}

// addIncomingCounts is addIncoming for all of a node's pods at once.
func (s *preFilterState) addIncomingCounts(ni *framework.NodeInfo) {
	pi := s.podInfo
	node := ni.Node()
	if len(pi.RequiredAffinityTerms) == 1 {
		if c := countTerm(ni, &pi.RequiredAffinityTerms[0]); c > 0 {
			s.affinity.update(node, pi.RequiredAffinityTerms, c)
		}
	}
	for i := range pi.RequiredAntiAffinityTerms {
		t := &pi.RequiredAntiAffinityTerms[i]
		if c := countTerm(ni, t); c > 0 {
			s.antiAffinity.update(node, []framework.AffinityTerm{*t}, c)
		}
	}
}

// addIndexedCounts is addIncomingCounts over every node at once, from the
// snapshot's index of pod labels: only nodes with matching pods are seen.
func (s *preFilterState) addIndexedCounts(idx framework.TopologyIndex) {
	pi := s.podInfo
	add := func(c counts, t *framework.AffinityTerm) {
		k, v, _ := t.Query.Single()
		for ns := range t.Namespaces {
			for ni, n := range idx.NodesWithPodLabel(ns, k, v) {
				if d, ok := ni.Node().Labels[t.TopologyKey]; ok {
					c[topologyPair{t.TopologyKey, d}] += int64(n)
				}
			}
		}
	}
	if len(pi.RequiredAffinityTerms) == 1 {
		add(s.affinity, &pi.RequiredAffinityTerms[0])
	}
	for i := range pi.RequiredAntiAffinityTerms {
		add(s.antiAffinity, &pi.RequiredAntiAffinityTerms[i])
	}
}

func (s *preFilterState) addIncoming(node *v1.Node, existing *v1.Pod, delta int64) {
	pi := s.podInfo
	if matchesAll(pi.RequiredAffinityTerms, existing, nil) {
		s.affinity.update(node, pi.RequiredAffinityTerms, delta)
	}
	for _, t := range pi.RequiredAntiAffinityTerms {
		if t.Matches(existing, nil) {
			s.antiAffinity.update(node, []framework.AffinityTerm{t}, delta)
		}
	}
}

// PreFilterExtensions implements framework.PreFilterPlugin.
func (pl *InterPodAffinity) PreFilterExtensions() framework.PreFilterExtensions { return pl }

// AddPod implements framework.PreFilterExtensions.
func (pl *InterPodAffinity) AddPod(_ context.Context, state *framework.CycleState, _ *v1.Pod, add *framework.PodInfo, ni *framework.NodeInfo) *framework.Status {
	return pl.updateWith(state, add, ni, 1)
}

// RemovePod implements framework.PreFilterExtensions.
func (pl *InterPodAffinity) RemovePod(_ context.Context, state *framework.CycleState, _ *v1.Pod, rm *framework.PodInfo, ni *framework.NodeInfo) *framework.Status {
	return pl.updateWith(state, rm, ni, -1)
}

func (pl *InterPodAffinity) updateWith(state *framework.CycleState, pi *framework.PodInfo, ni *framework.NodeInfo, delta int64) *framework.Status {
	d, err := state.Read(preFilterKey)
	if err != nil {
		return nil
	}
	s := d.(*preFilterState)
	s.addExisting(ni.Node(), pi, delta)
	s.addIncoming(ni.Node(), pi.Pod, delta)
	s.updateKeys()
	return nil
}

// Filter implements framework.FilterPlugin.
func (pl *InterPodAffinity) Filter(_ context.Context, state *framework.CycleState, pod *v1.Pod, ni *framework.NodeInfo) *framework.Status {
	d, err := state.Read(preFilterKey)
	if err != nil {
		return framework.AsStatus(fmt.Errorf("read %s: %w", preFilterKey, err))
	}
	s := d.(*preFilterState)
	node := ni.Node()
	if len(s.existingAntiAffinity) > 0 {
		for _, k := range s.existingKeys {
			if v, ok := node.Labels[k]; ok && s.existingAntiAffinity[topologyPair{k, v}] > 0 {
				return pl.errExisting
			}
		}
	}
	for _, t := range s.podInfo.RequiredAntiAffinityTerms {
		if v, ok := node.Labels[t.TopologyKey]; ok && s.antiAffinity[topologyPair{t.TopologyKey, v}] > 0 {
			return pl.errAnti
		}
	}
	if terms := s.podInfo.RequiredAffinityTerms; len(terms) > 0 {
		ok := true
		for _, t := range terms {
			v, has := node.Labels[t.TopologyKey]
			if !has || s.affinity[topologyPair{t.TopologyKey, v}] <= 0 {
				ok = false
				break
			}
		}
		if !ok {
			// The first pod of a group that selects itself may go anywhere
			// its topology keys exist, or it could never start.
			if len(s.affinity) == 0 && matchesAll(terms, pod, s.nsLabels) {
				for _, t := range terms {
					if _, has := node.Labels[t.TopologyKey]; !has {
						return framework.NewStatus(framework.UnschedulableAndUnresolvable, ErrReasonAffinityRulesNotMatch)
					}
				}
				return nil
			}
			return framework.NewStatus(framework.UnschedulableAndUnresolvable, ErrReasonAffinityRulesNotMatch)
		}
	}
	return nil
}

type scoreState struct {
	scores map[string]map[string]int64
}

func (s *scoreState) Clone() framework.StateData { return s }

// PreScore implements framework.PreScorePlugin: it sums, per topology
// pair, the weights of preferred terms (both ways) and of existing pods'
// required affinity that the pairing satisfies.
func (pl *InterPodAffinity) PreScore(_ context.Context, state *framework.CycleState, pod *v1.Pod, _ []*framework.NodeInfo) *framework.Status {
	shared := framework.PodInfoFor(state, pod)
	lister := pl.h.SnapshotSharedLister()
	hasPreferred := len(shared.PreferredAffinityTerms) > 0 || len(shared.PreferredAntiAffinityTerms) > 0
	nodes := lister.HavePodsWithAffinityList()
	if hasPreferred {
		nodes = lister.List()
	}
	if !hasPreferred && len(nodes) == 0 {
		return framework.NewStatus(framework.Skip)
	}
	cp := *shared
	pi := &cp
	pi.PreferredAffinityTerms = pl.resolveWeighted(pi.PreferredAffinityTerms)
	pi.PreferredAntiAffinityTerms = pl.resolveWeighted(pi.PreferredAntiAffinityTerms)
	nsLabels := pl.nsLabels(pod.Namespace)
	s := &scoreState{scores: map[string]map[string]int64{}}
	add := func(node *v1.Node, key string, w int64) {
		v, ok := node.Labels[key]
		if !ok || w == 0 {
			return
		}
		m := s.scores[key]
		if m == nil {
			m = map[string]int64{}
			s.scores[key] = m
		}
		m[v] += w
	}
	for _, ni := range nodes {
		if !hasPreferred && ni.PodsWithScoringAffinity() == 0 {
			// Only the existing pods' terms could score, and none has any.
			continue
		}
		node := ni.Node()
		list := ni.PodsWithAffinity
		if hasPreferred {
			list = ni.Pods
		}
		for _, existing := range list {
			for _, t := range pi.PreferredAffinityTerms {
				if t.Matches(existing.Pod, nil) {
					add(node, t.TopologyKey, int64(t.Weight))
				}
			}
			for _, t := range pi.PreferredAntiAffinityTerms {
				if t.Matches(existing.Pod, nil) {
					add(node, t.TopologyKey, -int64(t.Weight))
				}
			}
			for _, t := range existing.RequiredAffinityTerms {
				if pl.hardPodAffinityWeight > 0 && t.Matches(pod, nsLabels) {
					add(node, t.TopologyKey, int64(pl.hardPodAffinityWeight))
				}
			}
			for _, t := range existing.PreferredAffinityTerms {
				if t.Matches(pod, nsLabels) {
					add(node, t.TopologyKey, int64(t.Weight))
				}
			}
			for _, t := range existing.PreferredAntiAffinityTerms {
				if t.Matches(pod, nsLabels) {
					add(node, t.TopologyKey, -int64(t.Weight))
				}
			}
		}
	}
	if len(s.scores) == 0 {
		return framework.NewStatus(framework.Skip)
	}
	state.Write(preScoreKey, s)
	return nil
}

// Score implements framework.ScorePlugin: the sum over the node's topology
// pairs (may be negative until normalised).
func (pl *InterPodAffinity) Score(_ context.Context, state *framework.CycleState, _ *v1.Pod, ni *framework.NodeInfo) (int64, *framework.Status) {
	d, err := state.Read(preScoreKey)
	if err != nil {
		return 0, framework.AsStatus(fmt.Errorf("read %s: %w", preScoreKey, err))
	}
	var score int64
	for key, values := range d.(*scoreState).scores {
		if v, ok := ni.Node().Labels[key]; ok {
			score += values[v]
		}
	}
	return score, nil
}

// ScoreExtensions implements framework.ScorePlugin.
func (pl *InterPodAffinity) ScoreExtensions() framework.ScoreExtensions { return pl }

// NormalizeScore implements framework.ScoreExtensions: min-max to [0, 100].
func (*InterPodAffinity) NormalizeScore(_ context.Context, _ *framework.CycleState, _ *v1.Pod, scores []framework.NodeScore) *framework.Status {
	if len(scores) == 0 {
		return nil
	}
	lo, hi := scores[0].Score, scores[0].Score
	for _, s := range scores {
		lo, hi = min(lo, s.Score), max(hi, s.Score)
	}
	for i := range scores {
		if hi > lo {
			scores[i].Score = framework.MaxNodeScore * (scores[i].Score - lo) / (hi - lo)
		} else {
			scores[i].Score = 0
		}
	}
	return nil
}
