package kit

import (
	"sync"
	"time"

	"k8s.io/utils/clock"
)

// expectationsTimeout bounds how long a controller trusts expectations
// whose watch events never arrived (a lost event must not wedge it).
const expectationsTimeout = 5 * time.Minute

// Expectations counts creates and deletes a controller issued but has not
// yet observed through its informer, per controller key. A sync that finds
// unsatisfied expectations must not create or delete again, because its
// cache is behind its own writes.
type Expectations struct {
	clock clock.PassiveClock
	mu    sync.Mutex
	m     map[string]*expectation
}

type expectation struct {
	add, del int
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
	if x.add <= 0 && x.del <= 0 || e.clock.Since(x.at) > expectationsTimeout {
		delete(e.m, key)
		return true
	}
	return false
}

// Expect records that adds creates and dels deletes are about to be issued.
func (e *Expectations) Expect(key string, adds, dels int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.m[key] = &expectation{add: adds, del: dels, at: e.clock.Now()}
}

// Observed lowers the counts after an informer event or a failed request.
func (e *Expectations) Observed(key string, adds, dels int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if x, ok := e.m[key]; ok {
		x.add -= adds
		x.del -= dels
	}
}

// Forget drops key (its object was deleted).
func (e *Expectations) Forget(key string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	delete(e.m, key)
}
