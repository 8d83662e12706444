package reconcile

import (
	"sync"
	"time"

	"k8s.io/utils/clock"
)

// ExpectationsTimeout bounds how long a controller trusts expectations
// whose watch events never arrived (a lost event must not wedge it).
const ExpectationsTimeout = 5 * time.Minute

// Expectations remembers, per controller key, the creations and deletions
// a controller issued but has not yet seen through its informer. A sync
// that finds unsatisfied expectations must not create or delete again,
// because its cache is behind its own writes.
//
// Creations are tracked either by count (ExpectCreations, for objects
// created with generateName whose names are unknown up front) or by name
// (ExpectCreate); deletions always by name. Names make observing
// idempotent: a duplicate event cannot clear someone else's expectation.
type Expectations struct {
	clock clock.PassiveClock
	mu    sync.Mutex
	m     map[string]*expectation
}

type expectation struct {
	// adds counts creations expected by count only.
	adds     int
	add, del map[string]bool
	at       time.Time
}

// NewExpectations returns empty expectations timed by clk (nil means the
// real clock).
func NewExpectations(clk clock.PassiveClock) *Expectations {
	if clk == nil {
		clk = clock.RealClock{}
	}
	return &Expectations{clock: clk, m: map[string]*expectation{}}
}

// Satisfied reports whether the controller may act on key: all expected
// events were observed, none were recorded, or they expired. A satisfied
// key is forgotten.
func (e *Expectations) Satisfied(key string) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	x, ok := e.m[key]
	if !ok {
		return true
	}
	if x.adds <= 0 && len(x.add) == 0 && len(x.del) == 0 || e.clock.Since(x.at) > ExpectationsTimeout {
		delete(e.m, key)
		return true
	}
	return false
}

func newExpectation(at time.Time) *expectation {
	return &expectation{add: map[string]bool{}, del: map[string]bool{}, at: at}
}

// get returns key's record, created if missing, with a refreshed time.
func (e *Expectations) get(key string) *expectation {
	x, ok := e.m[key]
	if !ok {
		x = newExpectation(e.clock.Now())
		e.m[key] = x
	}
	x.at = e.clock.Now()
	return x
}

// ExpectCreations replaces key's expectations with n creations whose
// names are not known.
func (e *Expectations) ExpectCreations(key string, n int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	x := newExpectation(e.clock.Now())
	x.adds = n
	e.m[key] = x
}

// ExpectDeletions replaces key's expectations with the deletion of the
// objects named by names.
func (e *Expectations) ExpectDeletions(key string, names []string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	x := newExpectation(e.clock.Now())
	for _, n := range names {
		x.del[n] = true
	}
	e.m[key] = x
}

// ExpectCreate adds the creation of name to key's expectations.
func (e *Expectations) ExpectCreate(key, name string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.get(key).add[name] = true
}

// ExpectDelete adds the deletion of name to key's expectations.
func (e *Expectations) ExpectDelete(key, name string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.get(key).del[name] = true
}

// CreationObserved clears one creation for key (seen, or the request
// failed and will never be seen): the one named name if it was expected by
// name, otherwise one of the creations expected by count.
func (e *Expectations) CreationObserved(key, name string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	x, ok := e.m[key]
	switch {
	case !ok:
	case x.add[name]:
		delete(x.add, name)
	case x.adds > 0:
		x.adds--
	}
}

// DeletionObserved clears the deletion of name for key (seen, or the
// request failed).
func (e *Expectations) DeletionObserved(key, name string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if x, ok := e.m[key]; ok {
		delete(x.del, name)
	}
}

// Forget drops key (its owner was deleted).
func (e *Expectations) Forget(key string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	delete(e.m, key)
}
