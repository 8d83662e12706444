package framework

import (
	"fmt"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/selection"
	"k8s.io/apimachinery/pkg/util/sets"
)

// AffinityTerm is a parsed PodAffinityTerm.
type AffinityTerm struct {
	Namespaces        sets.Set[string]
	Selector          labels.Selector
	TopologyKey       string
	NamespaceSelector labels.Selector
	// HasNamespaceSelector is set when NamespaceSelector may match
	// namespaces beyond Namespaces.
	HasNamespaceSelector bool
	// Query is Selector prepared for fast matching and counting.
	Query LabelQuery
}

// Matches reports whether pod (whose namespace has nsLabels) is selected.
// The label test comes first: it is the one that usually fails, and on a
// pod's few labels it is cheaper than the namespace lookup.
func (t *AffinityTerm) Matches(pod *v1.Pod, nsLabels labels.Set) bool {
	if !t.Query.Matches(pod.Labels) {
		return false
	}
	return t.Namespaces.Has(pod.Namespace) || t.NamespaceSelector.Matches(nsLabels)
}

// LabelQuery is a label selector with the common single "key = value"
// case recognised once, so that matching and per-node counting avoid the
// generic selector machinery.
type LabelQuery struct {
	Selector   labels.Selector
	key, value string
	single     bool
}

// NewLabelQuery prepares sel.
func NewLabelQuery(sel labels.Selector) LabelQuery {
	q := LabelQuery{Selector: sel}
	q.key, q.value, q.single = SingleLabel(sel)
	return q
}

// Single returns the key and value when the query is one equality.
func (q LabelQuery) Single() (key, value string, ok bool) { return q.key, q.value, q.single }

// Matches reports whether the labels satisfy the query.
func (q LabelQuery) Matches(l map[string]string) bool {
	if q.single {
		v, ok := l[q.key]
		return ok && v == q.value
	}
	return q.Selector.Matches(labels.Set(l))
}

// WeightedAffinityTerm is a preferred term with its weight.
type WeightedAffinityTerm struct {
	AffinityTerm
	Weight int32
}

// PodInfo is a pod with its affinity terms and requests parsed once.
type PodInfo struct {
	Pod                        *v1.Pod
	RequiredAffinityTerms      []AffinityTerm
	RequiredAntiAffinityTerms  []AffinityTerm
	PreferredAffinityTerms     []WeightedAffinityTerm
	PreferredAntiAffinityTerms []WeightedAffinityTerm
	// Requests and NonZeroRequests are as PodRequests returns them.
	Requests, NonZeroRequests Resource
	// ParseError is set when the affinity terms could not be parsed.
	ParseError error
}

// Clone implements StateData: a PodInfo is read-only once built.
func (pi *PodInfo) Clone() StateData { return pi }

// PodInfoKey is where the scheduler leaves the incoming pod's PodInfo in
// the CycleState, so plugins need not recompute its requests.
const PodInfoKey StateKey = "PodInfo"

// PodInfoFor returns the incoming pod's PodInfo from the state, or parses
// the pod when the state has none.
func PodInfoFor(state *CycleState, pod *v1.Pod) *PodInfo {
	if d, err := state.Read(PodInfoKey); err == nil {
		if pi := d.(*PodInfo); pi.Pod.UID == pod.UID {
			return pi
		}
	}
	return NewPodInfo(pod)
}

// NewPodInfo parses pod.
func NewPodInfo(pod *v1.Pod) *PodInfo {
	pi := &PodInfo{}
	pi.Update(pod)
	return pi
}

// NewPodInfoFrom parses pod, a newer version of prev's pod, reusing what
// prev computed when the spec is the same (a bound pod confirming the
// assumed one). prev is not modified: it may be in use by a snapshot.
func NewPodInfoFrom(prev *PodInfo, pod *v1.Pod) *PodInfo {
	if prev == nil {
		return NewPodInfo(pod)
	}
	pi := *prev
	pi.Update(pod)
	return &pi
}

// Update re-parses pi for a new version of its pod.
func (pi *PodInfo) Update(pod *v1.Pod) {
	if pi.Pod != nil && pi.Pod.UID == pod.UID && pi.Pod.Generation == pod.Generation && pi.Pod.Spec.NodeName == pod.Spec.NodeName {
		// The spec is the same; only labels may have changed.
		pi.Pod = pod
		pi.parseAffinity()
		return
	}
	pi.Pod = pod
	pi.Requests, pi.NonZeroRequests = PodRequests(pod)
	pi.parseAffinity()
}

func (pi *PodInfo) parseAffinity() {
	pod := pi.Pod
	pi.RequiredAffinityTerms, pi.RequiredAntiAffinityTerms = nil, nil
	pi.PreferredAffinityTerms, pi.PreferredAntiAffinityTerms = nil, nil
	pi.ParseError = nil
	a := pod.Spec.Affinity
	if a == nil {
		return
	}
	var errs []error
	if a.PodAffinity != nil {
		pi.RequiredAffinityTerms = newTerms(pod, a.PodAffinity.RequiredDuringSchedulingIgnoredDuringExecution, &errs)
		pi.PreferredAffinityTerms = newWeightedTerms(pod, a.PodAffinity.PreferredDuringSchedulingIgnoredDuringExecution, &errs)
	}
	if a.PodAntiAffinity != nil {
		pi.RequiredAntiAffinityTerms = newTerms(pod, a.PodAntiAffinity.RequiredDuringSchedulingIgnoredDuringExecution, &errs)
		pi.PreferredAntiAffinityTerms = newWeightedTerms(pod, a.PodAntiAffinity.PreferredDuringSchedulingIgnoredDuringExecution, &errs)
	}
	if len(errs) > 0 {
		pi.ParseError = errs[0]
	}
}

func newTerms(pod *v1.Pod, terms []v1.PodAffinityTerm, errs *[]error) []AffinityTerm {
	var out []AffinityTerm
	for i := range terms {
		t, err := NewAffinityTerm(pod, &terms[i])
		if err != nil {
			*errs = append(*errs, err)
			continue
		}
		out = append(out, *t)
	}
	return out
}

func newWeightedTerms(pod *v1.Pod, terms []v1.WeightedPodAffinityTerm, errs *[]error) []WeightedAffinityTerm {
	var out []WeightedAffinityTerm
	for i := range terms {
		t, err := NewAffinityTerm(pod, &terms[i].PodAffinityTerm)
		if err != nil {
			*errs = append(*errs, err)
			continue
		}
		out = append(out, WeightedAffinityTerm{AffinityTerm: *t, Weight: terms[i].Weight})
	}
	return out
}

// NewAffinityTerm parses term as written in pod: an empty namespace list
// with no namespace selector means the pod's own namespace, and
// matchLabelKeys / mismatchLabelKeys are folded into the selector.
func NewAffinityTerm(pod *v1.Pod, term *v1.PodAffinityTerm) (*AffinityTerm, error) {
	sel, err := metav1.LabelSelectorAsSelector(term.LabelSelector)
	if err != nil {
		return nil, fmt.Errorf("parse pod affinity term: %w", err)
	}
	if term.LabelSelector != nil {
		for _, k := range term.MatchLabelKeys {
			if v, ok := pod.Labels[k]; ok {
				r, err := labels.NewRequirement(k, selection.In, []string{v})
				if err == nil {
					sel = sel.Add(*r)
				}
			}
		}
		for _, k := range term.MismatchLabelKeys {
			if v, ok := pod.Labels[k]; ok {
				r, err := labels.NewRequirement(k, selection.NotIn, []string{v})
				if err == nil {
					sel = sel.Add(*r)
				}
			}
		}
	}
	ns := sets.New(term.Namespaces...)
	var nsSel labels.Selector = labels.Nothing()
	if term.NamespaceSelector != nil {
		nsSel, err = metav1.LabelSelectorAsSelector(term.NamespaceSelector)
		if err != nil {
			return nil, fmt.Errorf("parse pod affinity namespace selector: %w", err)
		}
	} else if len(term.Namespaces) == 0 {
		ns.Insert(pod.Namespace)
	}
	return &AffinityTerm{Namespaces: ns, Selector: sel, TopologyKey: term.TopologyKey, NamespaceSelector: nsSel,
		HasNamespaceSelector: term.NamespaceSelector != nil, Query: NewLabelQuery(sel)}, nil
}

// ImageStateSummary says how big an image is and how many nodes have it.
type ImageStateSummary struct {
	Size     int64
	NumNodes int
}

// HostPort is one (ip, protocol, port) a pod binds on its node.
type HostPort struct {
	IP       string
	Protocol string
	Port     int32
}

// NodeInfo is one node and what is placed on it.
type NodeInfo struct {
	node *v1.Node
	// name, unschedulable and taints are copied from node when it is set,
	// so that filters and scorers, which visit hundreds of nodes per pod,
	// read them from the NodeInfo instead of the far larger Node object.
	name          string
	unschedulable bool
	taints        []v1.Taint
	// Pods are the pods bound or assumed to the node.
	Pods []*PodInfo
	// PodsWithAffinity have any pod affinity or anti-affinity.
	PodsWithAffinity []*PodInfo
	// PodsWithRequiredAntiAffinity have required anti-affinity.
	PodsWithRequiredAntiAffinity []*PodInfo
	// UsedPorts are the host ports taken.
	UsedPorts []HostPort
	// Requested and NonZeroRequested sum the pods' requests.
	Requested, NonZeroRequested Resource
	// Allocatable is the node's allocatable.
	Allocatable Resource
	// labelCounts counts the node's live (not terminating) pods per
	// namespace, label key and value, so that single-label selectors
	// (the usual app=x of spread constraints and affinity terms) are
	// counted per node without scanning its pods.
	labelCounts map[labelKey]int32
	// ImageStates maps image names on the node to their summary. Set by
	// the snapshot.
	ImageStates map[string]*ImageStateSummary
	// Generation changes whenever the NodeInfo does.
	Generation int64
	// scoringAffinity counts the pods whose terms can raise or lower
	// another pod's InterPodAffinity score (required affinity, preferred
	// affinity or anti-affinity); pods with only required anti-affinity,
	// the common case, have none.
	scoringAffinity int
}

// PodsWithScoringAffinity returns how many pods on the node have required
// affinity or preferred (anti-)affinity terms.
func (n *NodeInfo) PodsWithScoringAffinity() int { return n.scoringAffinity }

func scoresAffinity(pi *PodInfo) bool {
	return len(pi.RequiredAffinityTerms)+len(pi.PreferredAffinityTerms)+len(pi.PreferredAntiAffinityTerms) > 0
}

// NewNodeInfo returns a NodeInfo holding pods (and no node yet).
func NewNodeInfo(pods ...*v1.Pod) *NodeInfo {
	ni := &NodeInfo{}
	for _, p := range pods {
		ni.AddPodInfo(NewPodInfo(p))
	}
	return ni
}

// Node returns the node, nil if only its pods are known so far.
func (n *NodeInfo) Node() *v1.Node {
	if n == nil {
		return nil
	}
	return n.node
}

// Name returns the node's name ("" if the node is not known yet).
func (n *NodeInfo) Name() string { return n.name }

// Unschedulable returns the node's spec.unschedulable.
func (n *NodeInfo) Unschedulable() bool { return n.unschedulable }

// Taints returns the node's spec.taints (read-only).
func (n *NodeInfo) Taints() []v1.Taint { return n.taints }

// SetNode sets the node object.
func (n *NodeInfo) SetNode(node *v1.Node) {
	n.node = node
	n.name = node.Name
	n.unschedulable = node.Spec.Unschedulable
	n.taints = node.Spec.Taints
	n.Allocatable = *NewResource(node.Status.Allocatable)
}

// AddPodInfo adds a pod to the node.
func (n *NodeInfo) AddPodInfo(pi *PodInfo) {
	n.Pods = append(n.Pods, pi)
	if hasAffinity(pi) {
		n.PodsWithAffinity = append(n.PodsWithAffinity, pi)
	}
	if len(pi.RequiredAntiAffinityTerms) > 0 {
		n.PodsWithRequiredAntiAffinity = append(n.PodsWithRequiredAntiAffinity, pi)
	}
	if scoresAffinity(pi) {
		n.scoringAffinity++
	}
	n.update(pi, 1)
}

func hasAffinity(pi *PodInfo) bool {
	a := pi.Pod.Spec.Affinity
	return a != nil && (a.PodAffinity != nil || a.PodAntiAffinity != nil)
}

// RemovePod removes a pod (by UID) from the node.
func (n *NodeInfo) RemovePod(pod *v1.Pod) error {
	n.PodsWithAffinity = removeFrom(n.PodsWithAffinity, pod)
	n.PodsWithRequiredAntiAffinity = removeFrom(n.PodsWithRequiredAntiAffinity, pod)
	for i, pi := range n.Pods {
		if pi.Pod.UID == pod.UID {
			last := len(n.Pods) - 1
			n.Pods[i] = n.Pods[last]
			n.Pods[last] = nil
			n.Pods = n.Pods[:last]
			if scoresAffinity(pi) {
				n.scoringAffinity--
			}
			n.update(pi, -1)
			return nil
		}
	}
	return fmt.Errorf("remove pod %s/%s from node %s: not found", pod.Namespace, pod.Name, n.displayName())
}

func (n *NodeInfo) displayName() string {
	if n.node == nil {
		return "<unknown>"
	}
	return n.node.Name
}

func removeFrom(list []*PodInfo, pod *v1.Pod) []*PodInfo {
	for i, pi := range list {
		if pi.Pod.UID == pod.UID {
			last := len(list) - 1
			list[i] = list[last]
			list[last] = nil
			return list[:last]
		}
	}
	return list
}

type labelKey struct{ ns, key, value string }

// CountPods counts the node's live pods in namespace ns matching q; it
// uses the label index when q is a single equality.
func (n *NodeInfo) CountPods(ns string, q LabelQuery) int64 {
	if q.single {
		if n.labelCounts == nil {
			return 0
		}
		return int64(n.labelCounts[labelKey{ns, q.key, q.value}])
	}
	var c int64
	for _, pi := range n.Pods {
		p := pi.Pod
		if p.Namespace == ns && p.DeletionTimestamp == nil && q.Selector.Matches(labels.Set(p.Labels)) {
			c++
		}
	}
	return c
}

// SingleLabel reports whether sel is exactly one "key = value" (or "key in
// (value)") requirement, and returns it.
func SingleLabel(sel labels.Selector) (key, value string, ok bool) {
	reqs, selectable := sel.Requirements()
	if !selectable || len(reqs) != 1 {
		return "", "", false
	}
	r := reqs[0]
	switch r.Operator() {
	case selection.Equals, selection.DoubleEquals, selection.In:
	default:
		return "", "", false
	}
	vals := r.ValuesUnsorted()
	if len(vals) != 1 {
		return "", "", false
	}
	return r.Key(), vals[0], true
}

func (n *NodeInfo) update(pi *PodInfo, sign int64) {
	if pi.Pod.DeletionTimestamp == nil && len(pi.Pod.Labels) > 0 {
		if n.labelCounts == nil {
			n.labelCounts = map[labelKey]int32{}
		}
		for k, v := range pi.Pod.Labels {
			lk := labelKey{pi.Pod.Namespace, k, v}
			n.labelCounts[lk] += int32(sign)
			if n.labelCounts[lk] <= 0 {
				delete(n.labelCounts, lk)
			}
		}
	}
	n.Requested.AddResource(&pi.Requests, sign)
	n.NonZeroRequested.AddResource(&pi.NonZeroRequests, sign)
	for _, c := range pi.Pod.Spec.Containers {
		n.updatePorts(c.Ports, sign)
	}
	for _, c := range pi.Pod.Spec.InitContainers {
		if c.RestartPolicy != nil && *c.RestartPolicy == v1.ContainerRestartPolicyAlways {
			n.updatePorts(c.Ports, sign)
		}
	}
}

func (n *NodeInfo) updatePorts(ports []v1.ContainerPort, sign int64) {
	for _, p := range ports {
		if p.HostPort <= 0 {
			continue
		}
		hp := NewHostPort(p)
		if sign > 0 {
			n.UsedPorts = append(n.UsedPorts, hp)
			continue
		}
		for i, u := range n.UsedPorts {
			if u == hp {
				n.UsedPorts = append(n.UsedPorts[:i:i], n.UsedPorts[i+1:]...)
				break
			}
		}
	}
}

// NewHostPort normalises a container port: empty IP means 0.0.0.0, empty
// protocol TCP.
func NewHostPort(p v1.ContainerPort) HostPort {
	hp := HostPort{IP: p.HostIP, Protocol: string(p.Protocol), Port: p.HostPort}
	if hp.IP == "" {
		hp.IP = "0.0.0.0"
	}
	if hp.Protocol == "" {
		hp.Protocol = string(v1.ProtocolTCP)
	}
	return hp
}

// Conflicts reports whether hp clashes with a used port (a wildcard IP
// clashes with every IP).
func (hp HostPort) Conflicts(used HostPort) bool {
	if hp.Port != used.Port || hp.Protocol != used.Protocol {
		return false
	}
	return hp.IP == used.IP || hp.IP == "0.0.0.0" || used.IP == "0.0.0.0"
}

// Clone copies the NodeInfo; the pods themselves are shared (read-only).
func (n *NodeInfo) Clone() *NodeInfo {
	out := &NodeInfo{
		node:             n.node,
		name:             n.name,
		unschedulable:    n.unschedulable,
		taints:           n.taints,
		Requested:        *n.Requested.Clone(),
		NonZeroRequested: *n.NonZeroRequested.Clone(),
		Allocatable:      *n.Allocatable.Clone(),
		ImageStates:      n.ImageStates,
		Generation:       n.Generation,
		scoringAffinity:  n.scoringAffinity,
	}
	out.Pods = append([]*PodInfo(nil), n.Pods...)
	out.PodsWithAffinity = append([]*PodInfo(nil), n.PodsWithAffinity...)
	out.PodsWithRequiredAntiAffinity = append([]*PodInfo(nil), n.PodsWithRequiredAntiAffinity...)
	out.UsedPorts = append([]HostPort(nil), n.UsedPorts...)
	if n.labelCounts != nil {
		out.labelCounts = make(map[labelKey]int32, len(n.labelCounts))
		for k, v := range n.labelCounts {
			out.labelCounts[k] = v
		}
	}
	return out
}
