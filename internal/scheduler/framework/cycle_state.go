package framework

import "errors"

// ErrNotFound is returned by CycleState.Read for a key never written.
var ErrNotFound = errors.New("not found")

// StateData is a value a plugin keeps in the CycleState. Clone is used by
// preemption, which runs Filter on what-if copies of the state.
type StateData interface {
	Clone() StateData
}

// StateKey names a value in the CycleState; plugins use their own name.
type StateKey string

type stateEntry struct {
	key StateKey
	val StateData
}

// CycleState carries data between the extension points of one scheduling
// attempt. PreFilter and PreScore write, one plugin at a time; Filter and
// Score, which run in parallel over nodes, only read. That contract is
// what lets Read go without a lock (a lock here was a measurable share of
// the scheduler's CPU at 5,000 nodes).
//
// The values are a short list rather than a map: a cycle holds about ten,
// Read runs once per plugin and node, and comparing the (usually
// identical, constant) key strings is cheaper than hashing them.
type CycleState struct {
	data []stateEntry
	// Nominated holds the pods preemption nominated, per node, as of this
	// cycle; nil when there are none.
	Nominated map[string][]*PodInfo
	// SkipFilterPlugins and SkipScorePlugins name plugins whose PreFilter or
	// PreScore returned Skip.
	SkipFilterPlugins map[string]bool
	SkipScorePlugins  map[string]bool
	// filters and scorers are the plugins left to run after the skips,
	// resolved once per cycle rather than once per node; nil until
	// PreFilter (PreScore) ran.
	filters                    []FilterPlugin
	scorers                    []weightedScore
	filtersReady, scorersReady bool
}

// NewCycleState returns an empty CycleState.
func NewCycleState() *CycleState {
	return &CycleState{data: make([]stateEntry, 0, 16)}
}

// Read returns the value under key or ErrNotFound.
func (c *CycleState) Read(key StateKey) (StateData, error) {
	for i := range c.data {
		if c.data[i].key == key {
			return c.data[i].val, nil
		}
	}
	return nil, ErrNotFound
}

// Write stores val under key.
func (c *CycleState) Write(key StateKey, val StateData) {
	for i := range c.data {
		if c.data[i].key == key {
			c.data[i].val = val
			return
		}
	}
	c.data = append(c.data, stateEntry{key, val})
}

// Clone deep-copies the state (each value through its Clone).
func (c *CycleState) Clone() *CycleState {
	if c == nil {
		return nil
	}
	out := &CycleState{data: make([]stateEntry, len(c.data), cap(c.data))}
	for i, e := range c.data {
		out.data[i] = stateEntry{e.key, e.val.Clone()}
	}
	out.SkipFilterPlugins = c.SkipFilterPlugins
	out.SkipScorePlugins = c.SkipScorePlugins
	out.Nominated = c.Nominated
	out.filters, out.filtersReady = c.filters, c.filtersReady
	out.scorers, out.scorersReady = c.scorers, c.scorersReady
	return out
}
