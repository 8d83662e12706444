package framework

import (
	"context"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/record"
)

// Score bounds, as upstream.
const (
	MaxNodeScore int64 = 100
	MinNodeScore int64 = 0
)

// Plugin is anything with a name.
type Plugin interface {
	Name() string
}

// QueueSortPlugin orders the active queue.
type QueueSortPlugin interface {
	Plugin
	// Less reports whether a should be scheduled before b.
	Less(a, b *QueuedPodInfo) bool
}

// PreFilterResult may narrow the nodes worth filtering.
type PreFilterResult struct {
	// NodeNames, when not nil, is the only set of nodes that can fit.
	NodeNames map[string]bool
}

// PreFilterPlugin computes per-pod state once before filtering.
type PreFilterPlugin interface {
	Plugin
	// PreFilter returns Skip to have its Filter skipped for this pod, a
	// rejection to fail the pod on every node.
	PreFilter(ctx context.Context, state *CycleState, pod *v1.Pod, nodes []*NodeInfo) (*PreFilterResult, *Status)
	// PreFilterExtensions may return nil; otherwise it keeps the PreFilter
	// state right when preemption adds or removes pods in what-if runs.
	PreFilterExtensions() PreFilterExtensions
}

// PreFilterExtensions update PreFilter state for pods added to or removed
// from a node during preemption's what-if runs.
type PreFilterExtensions interface {
	AddPod(ctx context.Context, state *CycleState, podToSchedule *v1.Pod, podToAdd *PodInfo, nodeInfo *NodeInfo) *Status
	RemovePod(ctx context.Context, state *CycleState, podToSchedule *v1.Pod, podToRemove *PodInfo, nodeInfo *NodeInfo) *Status
}

// FilterPlugin decides whether the pod fits one node. Filter runs in
// parallel over nodes and must only read state.
type FilterPlugin interface {
	Plugin
	Filter(ctx context.Context, state *CycleState, pod *v1.Pod, nodeInfo *NodeInfo) *Status
}

// NodeToStatus maps node names to why they were rejected.
type NodeToStatus map[string]*Status

// PostFilterResult says where preemption made room.
type PostFilterResult struct {
	NominatedNodeName string
}

// PostFilterPlugin runs when no node fits (preemption).
type PostFilterPlugin interface {
	Plugin
	PostFilter(ctx context.Context, state *CycleState, pod *v1.Pod, filtered NodeToStatus) (*PostFilterResult, *Status)
}

// PreScorePlugin computes per-pod state before scoring.
type PreScorePlugin interface {
	Plugin
	// PreScore returns Skip to have its Score skipped for this pod.
	PreScore(ctx context.Context, state *CycleState, pod *v1.Pod, nodes []*NodeInfo) *Status
}

// NodeScore is one node's score.
type NodeScore struct {
	Name  string
	Score int64
}

// ScorePlugin ranks feasible nodes; scores end in [0, 100].
type ScorePlugin interface {
	Plugin
	Score(ctx context.Context, state *CycleState, pod *v1.Pod, nodeInfo *NodeInfo) (int64, *Status)
	// ScoreExtensions may return nil.
	ScoreExtensions() ScoreExtensions
}

// ScoreExtensions normalises raw scores into [0, 100].
type ScoreExtensions interface {
	NormalizeScore(ctx context.Context, state *CycleState, pod *v1.Pod, scores []NodeScore) *Status
}

// ReservePlugin keeps per-node resources (assumed volumes, ...) for the
// pod once a node is picked. Reserve runs in the scheduling cycle; when it
// or any later step (PreBind, Bind) fails, Unreserve runs on every reserve
// plugin in reverse order. Unreserve must be idempotent and must not fail.
type ReservePlugin interface {
	Plugin
	Reserve(ctx context.Context, state *CycleState, pod *v1.Pod, nodeName string) *Status
	Unreserve(ctx context.Context, state *CycleState, pod *v1.Pod, nodeName string)
}

// PreBindPlugin prepares the binding (binds volumes, ...) in the binding
// cycle, which runs apart from the scheduling loop and may wait on the API.
// A failure unreserves the pod and sends it back to the queue.
type PreBindPlugin interface {
	Plugin
	PreBind(ctx context.Context, state *CycleState, pod *v1.Pod, nodeName string) *Status
}

// BindPlugin writes the placement. Skip passes to the next binder.
type BindPlugin interface {
	Plugin
	Bind(ctx context.Context, state *CycleState, pod *v1.Pod, nodeName string) *Status
}

// SharedLister gives plugins the snapshot of the cluster taken at the start
// of the scheduling cycle.
type SharedLister interface {
	// List returns every node.
	List() []*NodeInfo
	// HavePodsWithAffinityList returns nodes with pods with affinity terms.
	HavePodsWithAffinityList() []*NodeInfo
	// HavePodsWithRequiredAntiAffinityList returns nodes with pods with
	// required anti-affinity.
	HavePodsWithRequiredAntiAffinityList() []*NodeInfo
	// Get returns one node or nil.
	Get(name string) *NodeInfo
}

// Handle is what a plugin may use besides its arguments.
type Handle interface {
	// SnapshotSharedLister is the snapshot of the current cycle.
	SnapshotSharedLister() SharedLister
	// ClientSet talks to the API server (binder, preemption).
	ClientSet() kubernetes.Interface
	// SharedInformerFactory gives listers (namespaces, PDBs, services...).
	// Plugins must register the informers they need in their factory
	// function; the scheduler starts them.
	SharedInformerFactory() informers.SharedInformerFactory
	// EventRecorder records events on behalf of the profile.
	EventRecorder() record.EventRecorder
	// Parallelize runs work(i) for i in [0, n) on the scheduler's workers.
	Parallelize(ctx context.Context, n int, work func(i int))
	// RunFilterPlugins runs every Filter of the profile on one node (for
	// preemption's what-if runs).
	RunFilterPlugins(ctx context.Context, state *CycleState, pod *v1.Pod, nodeInfo *NodeInfo) *Status
	// RunPreFilterExtensionAddPod and RemovePod update state for what-if runs.
	RunPreFilterExtensionAddPod(ctx context.Context, state *CycleState, pod *v1.Pod, add *PodInfo, nodeInfo *NodeInfo) *Status
	RunPreFilterExtensionRemovePod(ctx context.Context, state *CycleState, pod *v1.Pod, remove *PodInfo, nodeInfo *NodeInfo) *Status
	// NominatedPodsForNode returns pods nominated to a node by preemption,
	// as of the cycle whose state is given.
	NominatedPodsForNode(state *CycleState, nodeName string) []*PodInfo
}

// Factory builds a plugin from its arguments (nil for defaults).
type Factory func(args runtime.Object, h Handle) (Plugin, error)

// Registry maps plugin names to factories; built in one function, passed down.
type Registry map[string]Factory

// QueuedPodInfo is a pod waiting in the scheduling queue.
type QueuedPodInfo struct {
	*PodInfo
	// Timestamp is when the pod was last added to the queue.
	Timestamp int64
	// InitialAttemptTimestamp is when it was first added (for latency).
	InitialAttemptTimestamp int64
	// Attempts counts scheduling attempts.
	Attempts int
	// UnschedulablePlugins lists the plugins that rejected it last.
	UnschedulablePlugins map[string]bool
}
