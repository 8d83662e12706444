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

// CycleState carries data between the extension points of one scheduling
// attempt. PreFilter and PreScore write, one plugin at a time; Filter and
// Score, which run in parallel over nodes, only read. That contract is
// what lets Read go without a lock (a lock here was a measurable share of
// the scheduler's CPU at 5,000 nodes).
type CycleState struct {
	data map[StateKey]StateData
	// Nominated holds the pods preemption nominated, per node, as of this
	// cycle; nil when there are none.
	Nominated map[string][]*PodInfo
	// SkipFilterPlugins and SkipScorePlugins name plugins whose PreFilter or
	// PreScore returned Skip.
	SkipFilterPlugins map[string]bool
	SkipScorePlugins  map[string]bool
}

// NewCycleState returns an empty CycleState.
func NewCycleState() *CycleState {
	return &CycleState{data: map[StateKey]StateData{}}
}

// Read returns the value under key or ErrNotFound.
func (c *CycleState) Read(key StateKey) (StateData, error) {
	if v, ok := c.data[key]; ok {
		return v, nil
	}
	return nil, ErrNotFound
}

// Write stores val under key.
func (c *CycleState) Write(key StateKey, val StateData) {
	c.data[key] = val
}

// Clone deep-copies the state (each value through its Clone).
func (c *CycleState) Clone() *CycleState {
	if c == nil {
		return nil
	}
	out := NewCycleState()
	for k, v := range c.data {
		out.data[k] = v.Clone()
	}
	out.SkipFilterPlugins = c.SkipFilterPlugins
	out.SkipScorePlugins = c.SkipScorePlugins
	out.Nominated = c.Nominated
	return out
}
