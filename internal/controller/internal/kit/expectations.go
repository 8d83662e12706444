package kit

import (
	"sync"
	"time"

	"k8s.io/utils/clock"
)

// expectationsTimeout bounds how long a controller trusts expectations
// whose watch events never arrived (a lost event must not wedge it).
const expectationsTimeout = 5 * time.Minute

// Expectations remembers, per controller key, the names of objects a
// controller created or deleted but has not yet seen through its informer.
// A sync that finds unsatisfied expectations must not create or delete
// again, because its cache is behind its own writes. Tracking names rather
// than counts makes observing idempotent: a duplicate event cannot drive a
// count negative.
type Expectations struct {
	clock clock.PassiveClock
	mu    sync.Mutex
	m     map[string]*expectation
}

type expectation struct {
	add, del map[string]bool
	at       time.Time
}

// NewExpectations returns empty expectations timed by clk.
func NewExpectations(clk clock.PassiveClock) *Expectations {
	if clk == nil {
		clk = clock.RealClock{}
	}
	return &Expectations{clock: clk, m: map[string]*expectation{}}
}

// Satisfied reports whether key has no outstanding creates or deletes.
func (e *Expectations) Satisfied(key string) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	x, ok := e.m[key]
	if !ok {
		return true
	}
	if len(x.add) == 0 && len(x.del) == 0 || e.clock.Since(x.at) > expectationsTimeout {
		delete(e.m, key)
		return true
	}
	return false
}

func (e *Expectations) get(key string) *expectation {
	x, ok := e.m[key]
	if !ok {
		x = &expectation{add: map[string]bool{}, del: map[string]bool{}}
		e.m[key] = x
	}
	x.at = e.clock.Now()
	return x
}

// ExpectCreate records that name is about to be created for key.
func (e *Expectations) ExpectCreate(key, name string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.get(key).add[name] = true
}

// ExpectDelete records that name is about to be deleted for key.
func (e *Expectations) ExpectDelete(key, name string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.get(key).del[name] = true
}

// CreationObserved clears a create (seen, or the request failed).
func (e *Expectations) CreationObserved(key, name string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if x, ok := e.m[key]; ok {
		delete(x.add, name)
	}
}

// DeletionObserved clears a delete (seen, or the request failed).
func (e *Expectations) DeletionObserved(key, name string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if x, ok := e.m[key]; ok {
		delete(x.del, name)
	}
}

// Forget drops key (its object was deleted).
func (e *Expectations) Forget(key string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	delete(e.m, key)
}
