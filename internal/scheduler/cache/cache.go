package cache

import (
	"fmt"
	"sort"
	"strings"
	"sync"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"

	"skiff/internal/scheduler/framework"
)

type podState struct {
	pod      *v1.Pod
	info     *framework.PodInfo
	assumed  bool
	nodeName string
}

// Cache is safe for concurrent use: informer handlers write, the
// scheduling loop assumes and snapshots, binding goroutines finish or forget.
type Cache struct {
	mu    sync.Mutex
	nodes map[string]*framework.NodeInfo
	pods  map[types.UID]*podState
	// dirty names the nodes changed since the last snapshot.
	dirty map[string]bool
	// nodeSetChanged is set when a node object is added or removed;
	// imagesChanged when a node's images may have changed.
	nodeSetChanged, imagesChanged bool
	generation                    int64
}

// New returns an empty cache.
func New() *Cache {
	return &Cache{
		nodes: map[string]*framework.NodeInfo{},
		pods:  map[types.UID]*podState{},
		dirty: map[string]bool{},
	}
}

func (c *Cache) nodeInfo(name string) *framework.NodeInfo {
	ni, ok := c.nodes[name]
	if !ok {
		ni = framework.NewNodeInfo()
		c.nodes[name] = ni
	}
	return ni
}

func (c *Cache) touch(name string) {
	c.generation++
	if ni, ok := c.nodes[name]; ok {
		ni.Generation = c.generation
	}
	c.dirty[name] = true
}

// AddNode adds or replaces a node.
func (c *Cache) AddNode(node *v1.Node) {
	c.mu.Lock()
	defer c.mu.Unlock()
	ni := c.nodeInfo(node.Name)
	if ni.Node() == nil {
		c.nodeSetChanged = true
		c.imagesChanged = true
	} else if !sameImages(ni.Node(), node) {
		c.imagesChanged = true
	}
	ni.SetNode(node)
	c.touch(node.Name)
}

func sameImages(a, b *v1.Node) bool {
	if len(a.Status.Images) != len(b.Status.Images) {
		return false
	}
	for i := range a.Status.Images {
		x, y := a.Status.Images[i], b.Status.Images[i]
		if x.SizeBytes != y.SizeBytes || len(x.Names) != len(y.Names) {
			return false
		}
		for j := range x.Names {
			if x.Names[j] != y.Names[j] {
				return false
			}
		}
	}
	return true
}

// RemoveNode removes a node; its pods stay until their own deletions arrive.
func (c *Cache) RemoveNode(name string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	ni, ok := c.nodes[name]
	if !ok {
		return
	}
	if len(ni.Pods) == 0 {
		delete(c.nodes, name)
	} else {
		// Keep the pods' accounting: a node may come back under the same name.
		*ni = *framework.NewNodeInfo()
		for _, ps := range c.pods {
			if ps.nodeName == name {
				ni.AddPodInfo(ps.info)
			}
		}
	}
	c.nodeSetChanged = true
	c.imagesChanged = true
	c.touch(name)
}

// NodeCount returns how many nodes are known.
func (c *Cache) NodeCount() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, ni := range c.nodes {
		if ni.Node() != nil {
			n++
		}
	}
	return n
}

// AssumePod counts pod (with spec.nodeName set) against its node before
// the binding is written.
func (c *Cache) AssumePod(pod *v1.Pod) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.pods[pod.UID]; ok {
		return fmt.Errorf("assume pod %s/%s: already in the cache", pod.Namespace, pod.Name)
	}
	c.addPodLocked(pod, true)
	return nil
}

// FinishBinding marks the binding of an assumed pod as written; the pod
// stays assumed until the informer confirms it.
func (c *Cache) FinishBinding(pod *v1.Pod) {}

// ForgetPod undoes AssumePod after a failed binding.
func (c *Cache) ForgetPod(pod *v1.Pod) {
	c.mu.Lock()
	defer c.mu.Unlock()
	ps, ok := c.pods[pod.UID]
	if !ok || !ps.assumed {
		return
	}
	c.removePodLocked(ps)
}

// IsAssumed reports whether the pod is assumed and not yet confirmed.
func (c *Cache) IsAssumed(uid types.UID) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	ps, ok := c.pods[uid]
	return ok && ps.assumed
}

// AddPod records a pod bound to a node (from the informer); it confirms an
// assumed pod.
func (c *Cache) AddPod(pod *v1.Pod) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var prev *framework.PodInfo
	if ps, ok := c.pods[pod.UID]; ok {
		// Confirmed (or bound elsewhere than assumed: trust the API
		// server), or updated: swap in the new object, reusing the parsed
		// requests when the spec did not change.
		prev = ps.info
		c.removePodLocked(ps)
	}
	c.addPodInfoLocked(pod, framework.NewPodInfoFrom(prev, pod), false)
}

// UpdatePod replaces a bound pod.
func (c *Cache) UpdatePod(pod *v1.Pod) { c.AddPod(pod) }

// RemovePod forgets a deleted (or finished) pod.
func (c *Cache) RemovePod(pod *v1.Pod) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if ps, ok := c.pods[pod.UID]; ok {
		c.removePodLocked(ps)
	}
}

func (c *Cache) addPodLocked(pod *v1.Pod, assumed bool) {
	c.addPodInfoLocked(pod, framework.NewPodInfo(pod), assumed)
}

func (c *Cache) addPodInfoLocked(pod *v1.Pod, info *framework.PodInfo, assumed bool) {
	ps := &podState{pod: pod, info: info, assumed: assumed, nodeName: pod.Spec.NodeName}
	c.pods[pod.UID] = ps
	c.nodeInfo(ps.nodeName).AddPodInfo(ps.info)
	c.touch(ps.nodeName)
}

func (c *Cache) removePodLocked(ps *podState) {
	delete(c.pods, ps.pod.UID)
	ni, ok := c.nodes[ps.nodeName]
	if !ok {
		return
	}
	_ = ni.RemovePod(ps.pod)
	if ni.Node() == nil && len(ni.Pods) == 0 {
		delete(c.nodes, ps.nodeName)
	}
	c.touch(ps.nodeName)
}

// Snapshot is an immutable-between-cycles copy of the cache that the
// scheduling loop reads without locks. It implements framework.SharedLister.
type Snapshot struct {
	nodes        map[string]*framework.NodeInfo
	list         []*framework.NodeInfo
	withAffinity []*framework.NodeInfo
	withAnti     []*framework.NodeInfo
	images       map[string]*framework.ImageStateSummary
	// podLabels and anti index the pods for TopologyIndex; they are kept
	// up to date node by node as the snapshot is.
	podLabels *framework.PodLabelIndex
	anti      *framework.AntiAffinityIndex
	// domains memoises Domains until a node is added, removed or
	// relabelled.
	domainsMu sync.Mutex
	domains   map[string][]string
}

var (
	_ framework.SharedLister  = (*Snapshot)(nil)
	_ framework.TopologyIndex = (*Snapshot)(nil)
)

// NewSnapshot returns an empty snapshot.
func NewSnapshot() *Snapshot {
	return &Snapshot{
		nodes:     map[string]*framework.NodeInfo{},
		podLabels: framework.NewPodLabelIndex(),
		anti:      framework.NewAntiAffinityIndex(),
		domains:   map[string][]string{},
	}
}

// NodesWithPodLabel implements framework.TopologyIndex.
func (s *Snapshot) NodesWithPodLabel(ns, key, value string) map[*framework.NodeInfo]int32 {
	return s.podLabels.Nodes(ns, key, value)
}

// NodesWithAntiAffinityFor implements framework.TopologyIndex.
func (s *Snapshot) NodesWithAntiAffinityFor(labels map[string]string) []*framework.NodeInfo {
	return s.anti.Nodes(labels)
}

// Domains implements framework.TopologyIndex.
func (s *Snapshot) Domains(keys []string, key string) []string {
	var b strings.Builder
	for _, k := range keys {
		b.WriteString(k)
		b.WriteByte(0)
	}
	b.WriteByte(1)
	b.WriteString(key)
	memo := b.String()
	s.domainsMu.Lock()
	defer s.domainsMu.Unlock()
	if d, ok := s.domains[memo]; ok {
		return d
	}
	seen := map[string]bool{}
	out := []string{}
nodes:
	for _, ni := range s.list {
		l := ni.Node().Labels
		for _, k := range keys {
			if _, ok := l[k]; !ok {
				continue nodes
			}
		}
		if v, ok := l[key]; ok && !seen[v] {
			seen[v] = true
			out = append(out, v)
		}
	}
	s.domains[memo] = out
	return out
}

func sameLabels(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// NewSnapshotFrom builds a snapshot straight from node infos (for tests).
func NewSnapshotFrom(infos []*framework.NodeInfo) *Snapshot {
	c := New()
	for _, ni := range infos {
		c.AddNode(ni.Node())
		for _, pi := range ni.Pods {
			c.addPodLocked(pi.Pod, false)
		}
	}
	s := NewSnapshot()
	c.UpdateSnapshot(s)
	return s
}

// List implements framework.SharedLister.
func (s *Snapshot) List() []*framework.NodeInfo { return s.list }

// HavePodsWithAffinityList implements framework.SharedLister.
func (s *Snapshot) HavePodsWithAffinityList() []*framework.NodeInfo { return s.withAffinity }

// HavePodsWithRequiredAntiAffinityList implements framework.SharedLister.
func (s *Snapshot) HavePodsWithRequiredAntiAffinityList() []*framework.NodeInfo {
	return s.withAnti
}

// Get implements framework.SharedLister.
func (s *Snapshot) Get(name string) *framework.NodeInfo { return s.nodes[name] }

// UpdateSnapshot brings s up to date, copying only the nodes changed since
// the last call.
func (c *Cache) UpdateSnapshot(s *Snapshot) {
	c.mu.Lock()
	defer c.mu.Unlock()
	affinityChanged, labelsChanged := false, false
	for name := range c.dirty {
		old := s.nodes[name]
		// The affinity lists hold the snapshot's (stable) NodeInfos, so they
		// change only when a node joins or leaves one of them.
		var oldAff, oldAnti bool
		if old != nil {
			oldAff, oldAnti = len(old.PodsWithAffinity) > 0, len(old.PodsWithRequiredAntiAffinity) > 0
			s.podLabels.Add(old, -1)
			s.anti.Add(old, -1)
		}
		ni, ok := c.nodes[name]
		if !ok || ni.Node() == nil {
			if old != nil {
				delete(s.nodes, name)
				c.nodeSetChanged = true
			}
			continue
		}
		clone := ni.Clone()
		if (len(clone.PodsWithAffinity) > 0) != oldAff || (len(clone.PodsWithRequiredAntiAffinity) > 0) != oldAnti {
			affinityChanged = true
		}
		if old != nil {
			if old.Node() != clone.Node() && !sameLabels(old.Node().Labels, clone.Node().Labels) {
				labelsChanged = true
			}
			clone.ImageStates = old.ImageStates
			*old = *clone
		} else {
			old = clone
			s.nodes[name] = clone
			c.nodeSetChanged = true
		}
		s.podLabels.Add(old, 1)
		s.anti.Add(old, 1)
	}
	clear(c.dirty)
	if c.nodeSetChanged || labelsChanged {
		s.domainsMu.Lock()
		clear(s.domains)
		s.domainsMu.Unlock()
	}
	if c.nodeSetChanged {
		s.list = zoneInterleaved(s.nodes)
		s.relayout()
		affinityChanged = true
		c.nodeSetChanged = false
	}
	if affinityChanged {
		s.withAffinity, s.withAnti = s.withAffinity[:0], s.withAnti[:0]
		for _, ni := range s.list {
			if len(ni.PodsWithAffinity) > 0 {
				s.withAffinity = append(s.withAffinity, ni)
			}
			if len(ni.PodsWithRequiredAntiAffinity) > 0 {
				s.withAnti = append(s.withAnti, ni)
			}
		}
	}
	if c.imagesChanged {
		s.images = map[string]*framework.ImageStateSummary{}
		for _, ni := range s.list {
			for _, img := range ni.Node().Status.Images {
				for _, name := range img.Names {
					st, ok := s.images[name]
					if !ok {
						st = &framework.ImageStateSummary{Size: img.SizeBytes}
						s.images[name] = st
					}
					st.NumNodes++
				}
			}
		}
		// Nodes with the same image list share one (read-only) map: a
		// fleet of like nodes then scores from one map that stays in the
		// CPU cache instead of thousands.
		shared := map[string]map[string]*framework.ImageStateSummary{}
		var key strings.Builder
		for _, ni := range s.list {
			if len(ni.Node().Status.Images) == 0 {
				ni.ImageStates = nil
				continue
			}
			key.Reset()
			for _, img := range ni.Node().Status.Images {
				for _, name := range img.Names {
					key.WriteString(name)
					key.WriteByte(0)
				}
			}
			if m, ok := shared[key.String()]; ok {
				ni.ImageStates = m
				continue
			}
			m := map[string]*framework.ImageStateSummary{}
			for _, img := range ni.Node().Status.Images {
				for _, name := range img.Names {
					m[name] = s.images[name]
				}
			}
			shared[key.String()] = m
			ni.ImageStates = m
		}
		c.imagesChanged = false
	}
}

// relayout moves the snapshot's NodeInfos into one block, in list order,
// and rebuilds the indexes that point at them. Filters and scorers walk
// hundreds of nodes per pod in list order, touching a few fields of each;
// with the nodes side by side the CPU prefetches them instead of missing
// the cache once per node (which showed as most of the cost of the
// cheapest filters at 5,000 nodes).
func (s *Snapshot) relayout() {
	block := make([]framework.NodeInfo, len(s.list))
	s.podLabels = framework.NewPodLabelIndex()
	s.anti = framework.NewAntiAffinityIndex()
	for i, ni := range s.list {
		block[i] = *ni
		ni = &block[i]
		s.list[i] = ni
		s.nodes[ni.Name()] = ni
		s.podLabels.Add(ni, 1)
		s.anti.Add(ni, 1)
	}
}

// zoneInterleaved orders nodes round-robin across zones (each zone by
// name), so that scoring only a share of the nodes still sees every zone.
func zoneInterleaved(nodes map[string]*framework.NodeInfo) []*framework.NodeInfo {
	byZone := map[string][]*framework.NodeInfo{}
	for _, ni := range nodes {
		z := zoneOf(ni.Node())
		byZone[z] = append(byZone[z], ni)
	}
	zones := make([]string, 0, len(byZone))
	for z, list := range byZone {
		zones = append(zones, z)
		sort.Slice(list, func(i, j int) bool { return list[i].Node().Name < list[j].Node().Name })
	}
	sort.Strings(zones)
	out := make([]*framework.NodeInfo, 0, len(nodes))
	for i := 0; len(out) < len(nodes); i++ {
		for _, z := range zones {
			if i < len(byZone[z]) {
				out = append(out, byZone[z][i])
			}
		}
	}
	return out
}

func zoneOf(n *v1.Node) string {
	region := n.Labels[v1.LabelTopologyRegion]
	zone := n.Labels[v1.LabelTopologyZone]
	if region == "" && zone == "" {
		return ""
	}
	return region + ":\x00:" + zone
}
