package scheduler

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sort"
	"strings"
	"sync"
	"sync/atomic"

	v1 "k8s.io/api/core/v1"

	"skiff/internal/scheduler/framework"
)

// Diagnosis records why a pod fit nowhere.
type Diagnosis struct {
	// NodeToStatus holds each rejected node's status.
	NodeToStatus framework.NodeToStatus
	// UnschedulablePlugins names the plugins that rejected the pod.
	UnschedulablePlugins map[string]bool
	// PreFilterMsg is set when a PreFilter rejected the pod outright.
	PreFilterMsg string
	// PostFilterMsg is what preemption had to say.
	PostFilterMsg string
	// Rejected counts the nodes filtered out when some node fitted (their
	// statuses are then not kept in NodeToStatus).
	Rejected int
}

// FitError is returned when no node fits a pod. Its message is the one
// users read in the FailedScheduling event and the PodScheduled condition.
type FitError struct {
	Pod         *v1.Pod
	NumAllNodes int
	Diagnosis   Diagnosis
}

// Error renders the message upstream's way: "0/5 nodes are available: 2
// Insufficient cpu, 3 node(s) had untolerated taint {dedicated: gpu}.
// preemption: ...", reasons counted and sorted.
func (f *FitError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "0/%d nodes are available:", f.NumAllNodes)
	if f.Diagnosis.PreFilterMsg != "" {
		fmt.Fprintf(&b, " %s.", f.Diagnosis.PreFilterMsg)
	} else if msg := ReasonHistogram(f.Diagnosis.NodeToStatus); msg != "" {
		fmt.Fprintf(&b, " %s.", msg)
	}
	if f.Diagnosis.PostFilterMsg != "" {
		fmt.Fprintf(&b, " %s", f.Diagnosis.PostFilterMsg)
		if !strings.HasSuffix(f.Diagnosis.PostFilterMsg, ".") {
			b.WriteByte('.')
		}
	}
	return b.String()
}

// ReasonHistogram counts the reasons of the statuses: "2 Insufficient cpu,
// 3 node(s) were unschedulable", sorted.
func ReasonHistogram(statuses framework.NodeToStatus) string {
	counts := map[string]int{}
	for _, s := range statuses {
		for _, r := range s.Reasons() {
			counts[r]++
		}
	}
	out := make([]string, 0, len(counts))
	for r, n := range counts {
		out = append(out, fmt.Sprintf("%d %s", n, r))
	}
	sort.Strings(out)
	return strings.Join(out, ", ")
}

// ScheduleResult is where a pod goes.
type ScheduleResult struct {
	SuggestedHost  string
	EvaluatedNodes int
	FeasibleNodes  int
	// Scores are the totals over the feasible nodes (for tests).
	Scores       []framework.NodeScore
	PluginScores []framework.PluginScores
}

// algorithm is the pure core: given a profile and a snapshot it picks a
// node. It holds only the rotation index and the tie-breaking source.
type algorithm struct {
	percentageOfNodesToScore int32
	nextStartNodeIndex       int
	mu                       sync.Mutex
	rnd                      *rand.Rand
	// statuses is findNodesThatFit's per-node scratch, kept between cycles
	// (one scheduling loop uses an algorithm) and left all nil after each.
	statuses []*framework.Status
}

const minFeasibleNodesToFind = 100

// numFeasibleNodesToFind is upstream's adaptive share: score every node of
// a small cluster; in a large one, about 50% minus 1% per 125 nodes, at
// least 5% and at least 100 nodes.
func (a *algorithm) numFeasibleNodesToFind(pct *int32, numAll int) int {
	p := a.percentageOfNodesToScore
	if pct != nil {
		p = *pct
	}
	if numAll < minFeasibleNodesToFind || p >= 100 {
		return numAll
	}
	if p <= 0 {
		p = int32(50 - numAll/125)
		if p < 5 {
			p = 5
		}
	}
	n := numAll * int(p) / 100
	if n < minFeasibleNodesToFind {
		return minFeasibleNodesToFind
	}
	return n
}

// schedulePod runs one scheduling attempt. It returns a *FitError when
// no node fits (PostFilter has not run yet).
func (a *algorithm) schedulePod(ctx context.Context, fwk *framework.Framework, state *framework.CycleState, pod *v1.Pod, snap framework.SharedLister) (ScheduleResult, error) {
	all := snap.List()
	if len(all) == 0 {
		return ScheduleResult{}, &FitError{Pod: pod, NumAllNodes: 0, Diagnosis: Diagnosis{NodeToStatus: framework.NodeToStatus{}}}
	}
	feasible, diag, err := a.findNodesThatFit(ctx, fwk, state, pod, snap)
	if err != nil {
		return ScheduleResult{}, err
	}
	if len(feasible) == 0 {
		return ScheduleResult{}, &FitError{Pod: pod, NumAllNodes: len(all), Diagnosis: diag}
	}
	res := ScheduleResult{EvaluatedNodes: len(feasible) + len(diag.NodeToStatus) + diag.Rejected, FeasibleNodes: len(feasible)}
	if len(feasible) == 1 {
		res.SuggestedHost = feasible[0].Name()
		return res, nil
	}
	if s := fwk.RunPreScorePlugins(ctx, state, pod, feasible); !s.IsSuccess() {
		return ScheduleResult{}, s.AsError()
	}
	scores, details, s := fwk.RunScorePlugins(ctx, state, pod, feasible)
	if !s.IsSuccess() {
		return ScheduleResult{}, s.AsError()
	}
	res.Scores, res.PluginScores = scores, details
	res.SuggestedHost = a.selectHost(scores)
	return res, nil
}

// selectHost picks the highest total, breaking ties uniformly at random.
func (a *algorithm) selectHost(scores []framework.NodeScore) string {
	best, ties := 0, 1
	a.mu.Lock()
	defer a.mu.Unlock()
	for i := 1; i < len(scores); i++ {
		switch {
		case scores[i].Score > scores[best].Score:
			best, ties = i, 1
		case scores[i].Score == scores[best].Score:
			ties++
			if a.rnd.IntN(ties) == 0 {
				best = i
			}
		}
	}
	return scores[best].Name
}

func (a *algorithm) findNodesThatFit(ctx context.Context, fwk *framework.Framework, state *framework.CycleState, pod *v1.Pod, snap framework.SharedLister) ([]*framework.NodeInfo, Diagnosis, error) {
	all := snap.List()
	diag := Diagnosis{NodeToStatus: framework.NodeToStatus{}, UnschedulablePlugins: map[string]bool{}}
	pre, s := fwk.RunPreFilterPlugins(ctx, state, pod, all)
	if !s.IsSuccess() {
		if !s.IsRejected() {
			return nil, diag, s.AsError()
		}
		diag.PreFilterMsg = s.Message()
		diag.UnschedulablePlugins[s.Plugin()] = true
		for _, ni := range all {
			diag.NodeToStatus[ni.Node().Name] = s
		}
		return nil, diag, nil
	}
	// A pod nominated by an earlier preemption tries its node first.
	if nn := pod.Status.NominatedNodeName; nn != "" {
		if ni := snap.Get(nn); ni != nil && (pre == nil || pre.NodeNames == nil || pre.NodeNames[nn]) {
			if s := fwk.RunFilterPluginsWithNominatedPods(ctx, state, pod, ni); s.IsSuccess() {
				return []*framework.NodeInfo{ni}, diag, nil
			}
		}
	}
	nodes := all
	if pre != nil && pre.NodeNames != nil {
		nodes = make([]*framework.NodeInfo, 0, len(pre.NodeNames))
		for _, ni := range all {
			if pre.NodeNames[ni.Node().Name] {
				nodes = append(nodes, ni)
			} else {
				diag.NodeToStatus[ni.Node().Name] = framework.NewStatus(framework.UnschedulableAndUnresolvable, "node(s) didn't satisfy plugin(s) [PreFilter]")
			}
		}
	}
	want := a.numFeasibleNodesToFind(fwk.PercentageOfNodesToScore(), len(nodes))
	if !fwk.HasFilterPlugins() {
		out := make([]*framework.NodeInfo, 0, want)
		for i := 0; i < want; i++ {
			out = append(out, nodes[(a.nextStartNodeIndex+i)%len(nodes)])
		}
		a.nextStartNodeIndex = (a.nextStartNodeIndex + want) % len(nodes)
		return out, diag, nil
	}
	start := a.nextStartNodeIndex % len(nodes)
	feasible := make([]*framework.NodeInfo, want)
	if cap(a.statuses) < len(nodes) {
		a.statuses = make([]*framework.Status, len(nodes))
	}
	statuses := a.statuses[:len(nodes)]
	defer clear(statuses)
	var found, processed atomic.Int32
	// enough stops the search once want nodes fit: the cancelled context
	// stops new chunks, the flag the rest of the current ones.
	var enough atomic.Bool
	fctx, cancel := context.WithCancel(ctx)
	defer cancel()
	fwk.Parallelize(fctx, len(nodes), func(i int) {
		if enough.Load() {
			return
		}
		ni := nodes[(start+i)%len(nodes)]
		processed.Add(1)
		s := fwk.RunFilterPluginsWithNominatedPods(fctx, state, pod, ni)
		if s.IsSuccess() {
			n := found.Add(1)
			if int(n) > want {
				return
			}
			feasible[n-1] = ni
			if int(n) == want {
				enough.Store(true)
				cancel()
			}
			return
		}
		statuses[(start+i)%len(nodes)] = s
	})
	n := min(int(found.Load()), want)
	feasible = feasible[:n]
	a.nextStartNodeIndex = (start + int(processed.Load())) % len(nodes)
	// Filters that hit an Error fail the attempt rather than the node.
	// The per-node reasons matter only when nothing fits (the message,
	// preemption); otherwise only their number is kept.
	for i, s := range statuses {
		if s == nil {
			continue
		}
		if s.Code() == framework.Error {
			return nil, diag, s.AsError()
		}
		if n > 0 {
			diag.Rejected++
			continue
		}
		diag.NodeToStatus[nodes[i].Name()] = s
		diag.UnschedulablePlugins[s.Plugin()] = true
	}
	return feasible, diag, nil
}
