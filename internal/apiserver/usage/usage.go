package usage

import (
	"sort"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/types"
	statsv1alpha1 "k8s.io/kubelet/pkg/apis/stats/v1alpha1"
)

// Point is one reading of a node's or container's counters.
type Point struct {
	// Time is when the CPU counter was read.
	Time time.Time
	// Start is when the container started; a change means a new counter.
	Start time.Time
	// CPU is the cumulative CPU time, in core-nanoseconds.
	CPU uint64
	// Memory is the working set, in bytes.
	Memory uint64
}

// Usage is what a node or container used over a window.
type Usage struct {
	// Timestamp is the end of the window.
	Timestamp time.Time
	// Window is the time between the two readings.
	Window time.Duration
	// NanoCores is the CPU rate over the window.
	NanoCores uint64
	// MemoryBytes is the working set at Timestamp.
	MemoryBytes uint64
}

// ContainerUsage is the usage of one container of a pod.
type ContainerUsage struct {
	Name string
	Usage
}

// PodUsage is the usage of a pod's containers.
type PodUsage struct {
	// Timestamp and Window are those of the latest container reading.
	Timestamp time.Time
	Window    time.Duration
	// Containers are sorted by name.
	Containers []ContainerUsage
}

// Rate computes the usage between two readings of one counter. It reports
// false when there is no window (cur is not later than prev) or the
// counter was reset (the container restarted or the counter went back).
func Rate(prev, cur Point) (Usage, bool) {
	if !cur.Time.After(prev.Time) || cur.CPU < prev.CPU || !cur.Start.Equal(prev.Start) {
		return Usage{}, false
	}
	window := cur.Time.Sub(prev.Time)
	// float64: the product of a large delta and 1e9 overflows uint64.
	cores := float64(cur.CPU-prev.CPU) / window.Seconds()
	return Usage{Timestamp: cur.Time, Window: window, NanoCores: uint64(cores + 0.5), MemoryBytes: cur.Memory}, true
}

// scrape is one node's Summary, reduced to the readings the Store needs.
type scrape struct {
	node Point
	// hasNode says the node's CPU counter was present.
	hasNode bool
	// pods maps each pod to its containers' readings.
	pods map[types.NamespacedName]map[string]Point
}

// nodeState is the last two scrapes of a node; prev is nil after the first.
type nodeState struct {
	prev, cur *scrape
}

// Store holds the last two scrapes of every node. It is safe for
// concurrent use.
type Store struct {
	mu    sync.RWMutex
	nodes map[string]*nodeState
	// podNode is the node whose latest scrape has each pod, so that a
	// list of pods does not look through every node for each.
	podNode map[types.NamespacedName]string
}

// NewStore returns an empty Store.
func NewStore() *Store {
	return &Store{nodes: map[string]*nodeState{}, podNode: map[types.NamespacedName]string{}}
}

// Update records a new Summary of node.
func (s *Store) Update(node string, sum *statsv1alpha1.Summary) {
	sc := reduce(sum)
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.nodes[node]
	if st == nil {
		st = &nodeState{}
		s.nodes[node] = st
	}
	if st.cur != nil {
		for key := range st.cur.pods {
			if _, still := sc.pods[key]; !still && s.podNode[key] == node {
				delete(s.podNode, key)
			}
		}
	}
	for key := range sc.pods {
		s.podNode[key] = node
	}
	st.prev, st.cur = st.cur, sc
}

// Retain forgets every node not in nodes.
func (s *Store) Retain(nodes []string) {
	keep := make(map[string]bool, len(nodes))
	for _, n := range nodes {
		keep[n] = true
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for n := range s.nodes {
		if !keep[n] {
			delete(s.nodes, n)
		}
	}
	for key, n := range s.podNode {
		if !keep[n] {
			delete(s.podNode, key)
		}
	}
}

// Node returns a node's usage over its last two scrapes.
func (s *Store) Node(name string) (Usage, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	st := s.nodes[name]
	if st == nil || st.prev == nil || !st.prev.hasNode || !st.cur.hasNode {
		return Usage{}, false
	}
	return Rate(st.prev.node, st.cur.node)
}

// Pod returns the usage of a pod's containers over the last two scrapes
// of the node that runs it. A pod none of whose containers has a usage yet
// is not found.
func (s *Store) Pod(namespace, name string) (PodUsage, bool) {
	key := types.NamespacedName{Namespace: namespace, Name: name}
	s.mu.RLock()
	defer s.mu.RUnlock()
	st := s.nodes[s.podNode[key]]
	if st == nil || st.prev == nil {
		return PodUsage{}, false
	}
	prev := st.prev.pods[key]
	var out PodUsage
	for cname, p := range st.cur.pods[key] {
		q, ok := prev[cname]
		if !ok {
			continue
		}
		u, ok := Rate(q, p)
		if !ok {
			continue
		}
		out.Containers = append(out.Containers, ContainerUsage{Name: cname, Usage: u})
		if u.Timestamp.After(out.Timestamp) {
			out.Timestamp, out.Window = u.Timestamp, u.Window
		}
	}
	if len(out.Containers) == 0 {
		return PodUsage{}, false
	}
	sort.Slice(out.Containers, func(i, j int) bool { return out.Containers[i].Name < out.Containers[j].Name })
	return out, true
}

// reduce keeps the readings of sum that carry a cumulative CPU counter.
func reduce(sum *statsv1alpha1.Summary) *scrape {
	sc := &scrape{pods: map[types.NamespacedName]map[string]Point{}}
	if p, ok := point(sum.Node.CPU, sum.Node.Memory, sum.Node.StartTime.Time); ok {
		sc.node, sc.hasNode = p, true
	}
	for _, ps := range sum.Pods {
		key := types.NamespacedName{Namespace: ps.PodRef.Namespace, Name: ps.PodRef.Name}
		containers := map[string]Point{}
		for _, c := range ps.Containers {
			if p, ok := point(c.CPU, c.Memory, c.StartTime.Time); ok {
				containers[c.Name] = p
			}
		}
		sc.pods[key] = containers
	}
	return sc
}

// point is the reading of one CPU and memory pair, if the CPU counter and
// its time are there. The node's start is its boot time, which changes
// only when it reboots.
func point(cpu *statsv1alpha1.CPUStats, mem *statsv1alpha1.MemoryStats, start time.Time) (Point, bool) {
	if cpu == nil || cpu.UsageCoreNanoSeconds == nil || cpu.Time.IsZero() {
		return Point{}, false
	}
	p := Point{Time: cpu.Time.Time, Start: start, CPU: *cpu.UsageCoreNanoSeconds}
	if mem != nil && mem.WorkingSetBytes != nil {
		p.Memory = *mem.WorkingSetBytes
	}
	return p, true
}
