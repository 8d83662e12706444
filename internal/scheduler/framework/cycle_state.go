package framework

import (
	"errors"
	"sync"
)

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
// attempt. PreFilter and PreScore write; Filter and Score, which run in
// parallel over nodes, only read.
type CycleState struct {
	mu   sync.RWMutex
	data map[StateKey]StateData
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
	c.mu.RLock()
	defer c.mu.RUnlock()
	if v, ok := c.data[key]; ok {
		return v, nil
	}
	return nil, ErrNotFound
}

// Write stores val under key.
func (c *CycleState) Write(key StateKey, val StateData) {
	c.mu.Lock()
	c.data[key] = val
	c.mu.Unlock()
}

// Clone deep-copies the state (each value through its Clone).
func (c *CycleState) Clone() *CycleState {
	if c == nil {
		return nil
	}
	out := NewCycleState()
	c.mu.RLock()
	defer c.mu.RUnlock()
	for k, v := range c.data {
		out.data[k] = v.Clone()
	}
	out.SkipFilterPlugins = c.SkipFilterPlugins
	out.SkipScorePlugins = c.SkipScorePlugins
	return out
}
