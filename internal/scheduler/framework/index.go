package framework

// TopologyIndex is implemented by snapshots that index where pods are, so
// that PodTopologySpread and InterPodAffinity count matching pods per
// topology domain without visiting every node and every pod. Plugins use
// it when the snapshot offers it (a type assertion on SharedLister) and
// fall back to the full walk otherwise. Everything it returns is read-only.
type TopologyIndex interface {
	// NodesWithPodLabel returns the nodes with live (not terminating) pods
	// in namespace ns labelled key=value, and how many each has.
	NodesWithPodLabel(ns, key, value string) map[*NodeInfo]int32
	// Domains returns the distinct values of label key over the nodes that
	// carry every label in keys (key among them).
	Domains(keys []string, key string) []string
	// NodesWithAntiAffinityFor returns the nodes holding a pod whose
	// required anti-affinity might select a pod with these labels: those
	// with a single-label term matching one of them, and those with any
	// other kind of term. Callers still match each term.
	NodesWithAntiAffinityFor(labels map[string]string) []*NodeInfo
}

// PodLabelIndex maps (namespace, label key, value) to the nodes with live
// pods so labelled, with their counts. It is built from the nodes'
// per-node label counts and updated node by node.
type PodLabelIndex struct {
	m map[labelKey]map[*NodeInfo]int32
}

// NewPodLabelIndex returns an empty index.
func NewPodLabelIndex() *PodLabelIndex {
	return &PodLabelIndex{m: map[labelKey]map[*NodeInfo]int32{}}
}

// Add records ni's current pods (sign 1) or forgets them (sign -1); a node
// is forgotten with the counts it was added with, before it changes.
func (x *PodLabelIndex) Add(ni *NodeInfo, sign int32) {
	for k, c := range ni.labelCounts {
		nodes := x.m[k]
		if nodes == nil {
			if sign < 0 {
				continue
			}
			nodes = map[*NodeInfo]int32{}
			x.m[k] = nodes
		}
		n := nodes[ni] + sign*c
		if n <= 0 {
			delete(nodes, ni)
			if len(nodes) == 0 {
				delete(x.m, k)
			}
			continue
		}
		nodes[ni] = n
	}
}

// Nodes returns the nodes with live pods in ns labelled key=value.
func (x *PodLabelIndex) Nodes(ns, key, value string) map[*NodeInfo]int32 {
	return x.m[labelKey{ns, key, value}]
}

// AntiAffinityIndex finds the nodes whose pods' required anti-affinity
// terms may select a given pod.
type AntiAffinityIndex struct {
	// byLabel counts, per "key = value" of single-label terms, the terms
	// on each node; other counts the remaining terms per node.
	byLabel map[[2]string]map[*NodeInfo]int32
	other   map[*NodeInfo]int32
}

// NewAntiAffinityIndex returns an empty index.
func NewAntiAffinityIndex() *AntiAffinityIndex {
	return &AntiAffinityIndex{byLabel: map[[2]string]map[*NodeInfo]int32{}, other: map[*NodeInfo]int32{}}
}

// Add records (sign 1) or forgets (sign -1) the terms of ni's pods.
func (x *AntiAffinityIndex) Add(ni *NodeInfo, sign int32) {
	for _, pi := range ni.PodsWithRequiredAntiAffinity {
		for i := range pi.RequiredAntiAffinityTerms {
			k, v, ok := pi.RequiredAntiAffinityTerms[i].Query.Single()
			if !ok {
				addCount(x.other, ni, sign)
				continue
			}
			lk := [2]string{k, v}
			nodes := x.byLabel[lk]
			if nodes == nil {
				nodes = map[*NodeInfo]int32{}
				x.byLabel[lk] = nodes
			}
			addCount(nodes, ni, sign)
			if len(nodes) == 0 {
				delete(x.byLabel, lk)
			}
		}
	}
}

func addCount(m map[*NodeInfo]int32, ni *NodeInfo, sign int32) {
	if n := m[ni] + sign; n > 0 {
		m[ni] = n
	} else {
		delete(m, ni)
	}
}

// Nodes returns, once each, the nodes with a term that may select a pod
// with these labels.
func (x *AntiAffinityIndex) Nodes(labels map[string]string) []*NodeInfo {
	var out []*NodeInfo
	seen := map[*NodeInfo]bool{}
	add := func(ni *NodeInfo) {
		if !seen[ni] {
			seen[ni] = true
			out = append(out, ni)
		}
	}
	for ni := range x.other {
		add(ni)
	}
	for k, v := range labels {
		for ni := range x.byLabel[[2]string{k, v}] {
			add(ni)
		}
	}
	return out
}
