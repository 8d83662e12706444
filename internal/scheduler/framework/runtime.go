package framework

import (
	"context"
	"fmt"
	"math"
	goruntime "runtime"
	"sync"
	"sync/atomic"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/record"
	corev1helpers "k8s.io/component-helpers/scheduling/corev1"
)

// PluginRef names an enabled plugin; Weight matters only for Score.
type PluginRef struct {
	Name   string
	Weight int32
}

// PointSet adjusts one extension point: Disabled removes plugins that
// MultiPoint put there ("*" removes them all), Enabled adds plugins (or
// re-weights ones already there).
type PointSet struct {
	Enabled  []PluginRef
	Disabled []string
}

// Extension point names, as in KubeSchedulerConfiguration.
const (
	PointQueueSort  = "QueueSort"
	PointPreFilter  = "PreFilter"
	PointFilter     = "Filter"
	PointPostFilter = "PostFilter"
	PointPreScore   = "PreScore"
	PointScore      = "Score"
	PointReserve    = "Reserve"
	PointPreBind    = "PreBind"
	PointBind       = "Bind"
)

// Profile is the plugin set of one schedulerName.
type Profile struct {
	SchedulerName string
	// MultiPoint plugins go to every extension point they implement, in
	// this order.
	MultiPoint []PluginRef
	// Points adjusts single extension points, keyed by Point* names.
	Points map[string]PointSet
	// PluginArgs are the typed arguments per plugin name (nil: defaults).
	PluginArgs map[string]runtime.Object
	// PercentageOfNodesToScore overrides the global setting when not nil.
	PercentageOfNodesToScore *int32
}

// Options are the scheduler's shared facilities every profile uses.
type Options struct {
	Client    kubernetes.Interface
	Informers informers.SharedInformerFactory
	Recorder  record.EventRecorder
	// Parallelism bounds Filter and Score workers (default 16).
	Parallelism int
	// Snapshot returns the current cycle's snapshot.
	Snapshot func() SharedLister
}

type weightedScore struct {
	plugin ScorePlugin
	weight int64
}

// Framework runs the plugins of one profile. It implements Handle.
type Framework struct {
	opts    Options
	profile Profile

	queueSort  QueueSortPlugin
	preFilter  []PreFilterPlugin
	filter     []FilterPlugin
	postFilter []PostFilterPlugin
	preScore   []PreScorePlugin
	score      []weightedScore
	reserve    []ReservePlugin
	preBind    []PreBindPlugin
	bind       []BindPlugin

	// scoreBufs holds *[]NodeScore blocks for RunScorePlugins.
	scoreBufs sync.Pool
}

var _ Handle = (*Framework)(nil)

// NewFramework instantiates the profile's plugins from registry; a plugin
// listed at several extension points is built once.
func NewFramework(registry Registry, p Profile, opts Options) (*Framework, error) {
	if opts.Parallelism <= 0 {
		opts.Parallelism = 16
	}
	f := &Framework{opts: opts, profile: p}
	built := map[string]Plugin{}
	get := func(name string) (Plugin, error) {
		if pl, ok := built[name]; ok {
			return pl, nil
		}
		factory, ok := registry[name]
		if !ok {
			return nil, fmt.Errorf("profile %q: unknown plugin %q", p.SchedulerName, name)
		}
		pl, err := factory(p.PluginArgs[name], f)
		if err != nil {
			return nil, fmt.Errorf("profile %q: build plugin %q: %w", p.SchedulerName, name, err)
		}
		built[name] = pl
		return pl, nil
	}
	implements := func(pl Plugin, point string) bool {
		switch point {
		case PointQueueSort:
			_, ok := pl.(QueueSortPlugin)
			return ok
		case PointPreFilter:
			_, ok := pl.(PreFilterPlugin)
			return ok
		case PointFilter:
			_, ok := pl.(FilterPlugin)
			return ok
		case PointPostFilter:
			_, ok := pl.(PostFilterPlugin)
			return ok
		case PointPreScore:
			_, ok := pl.(PreScorePlugin)
			return ok
		case PointScore:
			_, ok := pl.(ScorePlugin)
			return ok
		case PointReserve:
			_, ok := pl.(ReservePlugin)
			return ok
		case PointPreBind:
			_, ok := pl.(PreBindPlugin)
			return ok
		case PointBind:
			_, ok := pl.(BindPlugin)
			return ok
		}
		return false
	}
	for _, point := range []string{PointQueueSort, PointPreFilter, PointFilter, PointPostFilter, PointPreScore, PointScore, PointReserve, PointPreBind, PointBind} {
		set := p.Points[point]
		disabled := map[string]bool{}
		for _, d := range set.Disabled {
			disabled[d] = true
		}
		var refs []PluginRef
		if !disabled["*"] {
			for _, ref := range p.MultiPoint {
				if disabled[ref.Name] {
					continue
				}
				pl, err := get(ref.Name)
				if err != nil {
					return nil, err
				}
				if implements(pl, point) {
					refs = append(refs, ref)
				}
			}
		}
		for _, ref := range set.Enabled {
			replaced := false
			for i := range refs {
				if refs[i].Name == ref.Name {
					refs[i] = ref
					replaced = true
				}
			}
			if !replaced {
				refs = append(refs, ref)
			}
		}
		for _, ref := range refs {
			pl, err := get(ref.Name)
			if err != nil {
				return nil, err
			}
			if !implements(pl, point) {
				return nil, fmt.Errorf("profile %q: plugin %q does not implement %s", p.SchedulerName, ref.Name, point)
			}
			switch point {
			case PointQueueSort:
				f.queueSort = pl.(QueueSortPlugin)
			case PointPreFilter:
				f.preFilter = append(f.preFilter, pl.(PreFilterPlugin))
			case PointFilter:
				f.filter = append(f.filter, pl.(FilterPlugin))
			case PointPostFilter:
				f.postFilter = append(f.postFilter, pl.(PostFilterPlugin))
			case PointPreScore:
				f.preScore = append(f.preScore, pl.(PreScorePlugin))
			case PointScore:
				w := int64(ref.Weight)
				if w == 0 {
					w = 1
				}
				f.score = append(f.score, weightedScore{plugin: pl.(ScorePlugin), weight: w})
			case PointReserve:
				f.reserve = append(f.reserve, pl.(ReservePlugin))
			case PointPreBind:
				f.preBind = append(f.preBind, pl.(PreBindPlugin))
			case PointBind:
				f.bind = append(f.bind, pl.(BindPlugin))
			}
		}
	}
	if len(f.bind) == 0 {
		return nil, fmt.Errorf("profile %q: no bind plugin", p.SchedulerName)
	}
	return f, nil
}

// ProfileName returns the schedulerName the profile serves.
func (f *Framework) ProfileName() string { return f.profile.SchedulerName }

// PercentageOfNodesToScore returns the profile's override, nil if none.
func (f *Framework) PercentageOfNodesToScore() *int32 { return f.profile.PercentageOfNodesToScore }

// HasFilterPlugins reports whether any Filter is configured.
func (f *Framework) HasFilterPlugins() bool { return len(f.filter) > 0 }

// HasPostFilterPlugins reports whether preemption (or the like) is configured.
func (f *Framework) HasPostFilterPlugins() bool { return len(f.postFilter) > 0 }

// HasScorePlugins reports whether any Score is configured.
func (f *Framework) HasScorePlugins() bool { return len(f.score) > 0 }

// QueueSortLess orders pods by the profile's QueueSort plugin, or by
// priority then age if there is none.
func (f *Framework) QueueSortLess(a, b *QueuedPodInfo) bool {
	if f.queueSort != nil {
		return f.queueSort.Less(a, b)
	}
	pa, pb := corev1helpers.PodPriority(a.Pod), corev1helpers.PodPriority(b.Pod)
	return pa > pb || (pa == pb && a.Timestamp < b.Timestamp)
}

// SnapshotSharedLister implements Handle.
func (f *Framework) SnapshotSharedLister() SharedLister { return f.opts.Snapshot() }

// ClientSet implements Handle.
func (f *Framework) ClientSet() kubernetes.Interface { return f.opts.Client }

// SharedInformerFactory implements Handle.
func (f *Framework) SharedInformerFactory() informers.SharedInformerFactory { return f.opts.Informers }

// EventRecorder implements Handle.
func (f *Framework) EventRecorder() record.EventRecorder { return f.opts.Recorder }

// NominatedPodsForNode implements Handle; the nominations are those the
// scheduler put in the cycle state.
func (f *Framework) NominatedPodsForNode(state *CycleState, nodeName string) []*PodInfo {
	if state == nil || state.Nominated == nil {
		return nil
	}
	return state.Nominated[nodeName]
}

// Parallelize implements Handle: chunks of work (about sqrt(n) pieces
// each, as upstream) handed out to at most Parallelism workers, and never
// more workers than the Go runtime has processors (the work is CPU-bound;
// extra goroutines only add switching). The caller is one of the workers.
// Chunks not yet started when ctx ends are skipped.
func (f *Framework) Parallelize(ctx context.Context, n int, work func(i int)) {
	if n <= 0 {
		return
	}
	chunk := max(1, int(math.Sqrt(float64(n))))
	chunks := (n + chunk - 1) / chunk
	workers := min(f.opts.Parallelism, goruntime.GOMAXPROCS(0), chunks)
	if workers <= 1 || n < 8 {
		for i := 0; i < n; i++ {
			work(i)
		}
		return
	}
	done := ctx.Done()
	var next atomic.Int64
	run := func() {
		for {
			select {
			case <-done:
				return
			default:
			}
			c := int(next.Add(1) - 1)
			if c >= chunks {
				return
			}
			for i, end := c*chunk, min((c+1)*chunk, n); i < end; i++ {
				work(i)
			}
		}
	}
	var wg sync.WaitGroup
	for range workers - 1 {
		wg.Go(run)
	}
	run()
	wg.Wait()
}

// RunPreFilterPlugins runs every PreFilter. A rejection fails the pod on
// every node; the returned result narrows the candidate nodes.
func (f *Framework) RunPreFilterPlugins(ctx context.Context, state *CycleState, pod *v1.Pod, nodes []*NodeInfo) (*PreFilterResult, *Status) {
	var result *PreFilterResult
	skip := map[string]bool{}
	for _, pl := range f.preFilter {
		r, s := pl.PreFilter(ctx, state, pod, nodes)
		if s.IsSkip() {
			skip[pl.Name()] = true
			continue
		}
		if !s.IsSuccess() {
			return nil, s.WithPlugin(pl.Name())
		}
		if r != nil && r.NodeNames != nil {
			if result == nil {
				result = &PreFilterResult{NodeNames: r.NodeNames}
			} else {
				both := map[string]bool{}
				for n := range r.NodeNames {
					if result.NodeNames[n] {
						both[n] = true
					}
				}
				result.NodeNames = both
			}
		}
	}
	state.SkipFilterPlugins = skip
	state.filters = make([]FilterPlugin, 0, len(f.filter))
	for _, pl := range f.filter {
		if !skip[pl.Name()] {
			state.filters = append(state.filters, pl)
		}
	}
	state.filtersReady = true
	return result, nil
}

// RunPreFilterExtensionAddPod implements Handle.
func (f *Framework) RunPreFilterExtensionAddPod(ctx context.Context, state *CycleState, pod *v1.Pod, add *PodInfo, ni *NodeInfo) *Status {
	for _, pl := range f.preFilter {
		if state.SkipFilterPlugins[pl.Name()] {
			continue
		}
		if ext := pl.PreFilterExtensions(); ext != nil {
			if s := ext.AddPod(ctx, state, pod, add, ni); !s.IsSuccess() {
				return s.WithPlugin(pl.Name())
			}
		}
	}
	return nil
}

// RunPreFilterExtensionRemovePod implements Handle.
func (f *Framework) RunPreFilterExtensionRemovePod(ctx context.Context, state *CycleState, pod *v1.Pod, remove *PodInfo, ni *NodeInfo) *Status {
	for _, pl := range f.preFilter {
		if state.SkipFilterPlugins[pl.Name()] {
			continue
		}
		if ext := pl.PreFilterExtensions(); ext != nil {
			if s := ext.RemovePod(ctx, state, pod, remove, ni); !s.IsSuccess() {
				return s.WithPlugin(pl.Name())
			}
		}
	}
	return nil
}

// RunFilterPlugins implements Handle: the first rejection wins.
func (f *Framework) RunFilterPlugins(ctx context.Context, state *CycleState, pod *v1.Pod, ni *NodeInfo) *Status {
	if state.filtersReady {
		for _, pl := range state.filters {
			if s := pl.Filter(ctx, state, pod, ni); !s.IsSuccess() {
				if !s.IsRejected() && s.Code() != Error {
					continue
				}
				return s.WithPlugin(pl.Name())
			}
		}
		return nil
	}
	for _, pl := range f.filter {
		if state.SkipFilterPlugins[pl.Name()] {
			continue
		}
		if s := pl.Filter(ctx, state, pod, ni); !s.IsSuccess() {
			if !s.IsRejected() && s.Code() != Error {
				continue
			}
			return s.WithPlugin(pl.Name())
		}
	}
	return nil
}

// RunFilterPluginsWithNominatedPods runs the filters as if the pods that
// preemption nominated to this node, of priority at least the pod's, were
// already there, and then without them (as upstream does), so that a
// preemptor's room is not taken by others.
func (f *Framework) RunFilterPluginsWithNominatedPods(ctx context.Context, state *CycleState, pod *v1.Pod, ni *NodeInfo) *Status {
	if state.Nominated == nil {
		return f.RunFilterPlugins(ctx, state, pod, ni)
	}
	nominated := state.Nominated[ni.Node().Name]
	if len(nominated) == 0 {
		return f.RunFilterPlugins(ctx, state, pod, ni)
	}
	prio := corev1helpers.PodPriority(pod)
	withPods := ni.Clone()
	stateWith := state.Clone()
	added := false
	for _, np := range nominated {
		if np.Pod.UID == pod.UID || corev1helpers.PodPriority(np.Pod) < prio {
			continue
		}
		withPods.AddPodInfo(np)
		if s := f.RunPreFilterExtensionAddPod(ctx, stateWith, pod, np, withPods); !s.IsSuccess() {
			return s
		}
		added = true
	}
	if added {
		if s := f.RunFilterPlugins(ctx, stateWith, pod, withPods); !s.IsSuccess() {
			return s
		}
	}
	return f.RunFilterPlugins(ctx, state, pod, ni)
}

// RunPostFilterPlugins runs until one makes the pod schedulable.
func (f *Framework) RunPostFilterPlugins(ctx context.Context, state *CycleState, pod *v1.Pod, filtered NodeToStatus) (*PostFilterResult, *Status) {
	var last *Status = NewStatus(Unschedulable)
	for _, pl := range f.postFilter {
		r, s := pl.PostFilter(ctx, state, pod, filtered)
		if s.IsSuccess() {
			return r, nil
		}
		if s.Code() == Error {
			return nil, s.WithPlugin(pl.Name())
		}
		last = s.WithPlugin(pl.Name())
	}
	return nil, last
}

// RunPreScorePlugins runs every PreScore.
func (f *Framework) RunPreScorePlugins(ctx context.Context, state *CycleState, pod *v1.Pod, nodes []*NodeInfo) *Status {
	skip := map[string]bool{}
	for _, pl := range f.preScore {
		s := pl.PreScore(ctx, state, pod, nodes)
		if s.IsSkip() {
			skip[pl.Name()] = true
			continue
		}
		if !s.IsSuccess() {
			return s.WithPlugin(pl.Name())
		}
	}
	state.SkipScorePlugins = skip
	state.scorers = make([]weightedScore, 0, len(f.score))
	for _, ws := range f.score {
		if !skip[ws.plugin.Name()] {
			state.scorers = append(state.scorers, ws)
		}
	}
	state.scorersReady = true
	return nil
}

// PluginScores is one plugin's weighted, normalised scores over the nodes.
type PluginScores struct {
	Plugin string
	Scores []int64
}

// RunScorePlugins scores nodes with every Score plugin in parallel,
// normalises, weights and sums. It returns the totals and, per plugin, the
// weighted scores (for tests and debugging).
func (f *Framework) RunScorePlugins(ctx context.Context, state *CycleState, pod *v1.Pod, nodes []*NodeInfo) ([]NodeScore, []PluginScores, *Status) {
	active := state.scorers
	if !state.scorersReady {
		for _, ws := range f.score {
			if !state.SkipScorePlugins[ws.plugin.Name()] {
				active = append(active, ws)
			}
		}
	}
	// One block for every plugin's raw scores and one for the weighted
	// details: a cycle scores hundreds of nodes, and per-plugin slices were
	// a good part of the scheduler's allocations.
	n := len(nodes)
	buf := f.scoreBuffer(len(active) * n)
	defer f.scoreBufs.Put(buf)
	raw := *buf
	perPlugin := make([][]NodeScore, len(active))
	for i := range active {
		perPlugin[i] = raw[i*n : (i+1)*n : (i+1)*n]
	}
	var failed atomic.Pointer[Status]
	f.Parallelize(ctx, n, func(j int) {
		ni := nodes[j]
		name := ni.Name()
		for i, ws := range active {
			sc, s := ws.plugin.Score(ctx, state, pod, ni)
			if !s.IsSuccess() {
				failed.CompareAndSwap(nil, s.WithPlugin(ws.plugin.Name()))
				return
			}
			perPlugin[i][j] = NodeScore{Name: name, Score: sc}
		}
	})
	if s := failed.Load(); s != nil {
		return nil, nil, s
	}
	totals := make([]NodeScore, n)
	for j := range nodes {
		totals[j].Name = nodes[j].Name()
	}
	details := make([]PluginScores, len(active))
	weighted := make([]int64, len(active)*n)
	for i, ws := range active {
		if ext := ws.plugin.ScoreExtensions(); ext != nil {
			if s := ext.NormalizeScore(ctx, state, pod, perPlugin[i]); !s.IsSuccess() {
				return nil, nil, s.WithPlugin(ws.plugin.Name())
			}
		}
		details[i] = PluginScores{Plugin: ws.plugin.Name(), Scores: weighted[i*n : (i+1)*n : (i+1)*n]}
		for j, sc := range perPlugin[i] {
			if sc.Score > MaxNodeScore || sc.Score < MinNodeScore {
				return nil, nil, NewStatus(Error, fmt.Sprintf("plugin %q returned score %d outside [0, 100]", ws.plugin.Name(), sc.Score))
			}
			w := sc.Score * ws.weight
			totals[j].Score += w
			details[i].Scores[j] = w
		}
	}
	return totals, details, nil
}

// scoreBuffer returns a recycled block for RunScorePlugins' raw
// per-plugin scores, which never leave it (what it returns is copied).
func (f *Framework) scoreBuffer(n int) *[]NodeScore {
	if b, ok := f.scoreBufs.Get().(*[]NodeScore); ok && cap(*b) >= n {
		*b = (*b)[:n]
		return b
	}
	b := make([]NodeScore, n)
	return &b
}

// HasReservePlugins reports whether any Reserve is configured.
func (f *Framework) HasReservePlugins() bool { return len(f.reserve) > 0 }

// HasPreBindPlugins reports whether any PreBind is configured.
func (f *Framework) HasPreBindPlugins() bool { return len(f.preBind) > 0 }

// RunReservePluginsReserve runs every Reserve in order; the first failure
// is returned (the caller then runs RunReservePluginsUnreserve).
func (f *Framework) RunReservePluginsReserve(ctx context.Context, state *CycleState, pod *v1.Pod, nodeName string) *Status {
	for _, pl := range f.reserve {
		if s := pl.Reserve(ctx, state, pod, nodeName); !s.IsSuccess() {
			if s.IsRejected() {
				// As upstream: a Reserve rejection is final for this attempt.
				s = NewStatus(Unschedulable, s.Reasons()...)
			}
			return s.WithPlugin(pl.Name())
		}
	}
	return nil
}

// RunReservePluginsUnreserve runs every Unreserve in reverse order.
func (f *Framework) RunReservePluginsUnreserve(ctx context.Context, state *CycleState, pod *v1.Pod, nodeName string) {
	for i := len(f.reserve) - 1; i >= 0; i-- {
		f.reserve[i].Unreserve(ctx, state, pod, nodeName)
	}
}

// RunPreBindPlugins runs every PreBind; the first failure stops them.
func (f *Framework) RunPreBindPlugins(ctx context.Context, state *CycleState, pod *v1.Pod, nodeName string) *Status {
	for _, pl := range f.preBind {
		s := pl.PreBind(ctx, state, pod, nodeName)
		if s.IsSuccess() || s.IsSkip() {
			continue
		}
		if s.IsRejected() {
			return NewStatus(Unschedulable, s.Reasons()...).WithPlugin(pl.Name())
		}
		return s.WithPlugin(pl.Name())
	}
	return nil
}

// RunBindPlugins binds with the first binder that does not Skip.
func (f *Framework) RunBindPlugins(ctx context.Context, state *CycleState, pod *v1.Pod, nodeName string) *Status {
	for _, pl := range f.bind {
		s := pl.Bind(ctx, state, pod, nodeName)
		if s.IsSkip() {
			continue
		}
		return s.WithPlugin(pl.Name())
	}
	return NewStatus(Error, "no bind plugin bound the pod")
}
