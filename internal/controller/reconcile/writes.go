package reconcile

import (
	"strconv"
	"sync"
)

// WriteTracker remembers, per controller key, the objects a controller
// wrote (name to resourceVersion) so that a sync running before the
// informer caught up — which would see too few objects and create
// duplicates through generateName — waits instead.
type WriteTracker struct {
	mu sync.Mutex
	// written maps a key to object name to the resourceVersion written;
	// "" marks a deleted object.
	written map[string]map[string]string
}

// NewWriteTracker returns an empty tracker.
func NewWriteTracker() *WriteTracker {
	return &WriteTracker{written: map[string]map[string]string{}}
}

// Record notes that the object name was written at resourceVersion rv
// for key, or deleted when rv is "".
func (t *WriteTracker) Record(key, name, rv string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.written[key] == nil {
		t.written[key] = map[string]string{}
	}
	t.written[key][name] = rv
}

// Forget drops everything recorded for key.
func (t *WriteTracker) Forget(key string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.written, key)
}

// Stale reports whether cached (name to resourceVersion) lags what was
// written for key; writes the cache has caught up with are dropped.
func (t *WriteTracker) Stale(key string, cached map[string]string) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	stale := false
	for name, rv := range t.written[key] {
		cur, ok := cached[name]
		if rv == "" && !ok || rv != "" && ok && atLeast(cur, rv) {
			delete(t.written[key], name)
			continue
		}
		stale = true
	}
	return stale
}

// atLeast compares resourceVersions, which are etcd revisions here; an
// unparsable one only matches itself.
func atLeast(cur, written string) bool {
	a, errA := strconv.ParseUint(cur, 10, 64)
	b, errB := strconv.ParseUint(written, 10, 64)
	if errA != nil || errB != nil {
		return cur == written
	}
	return a >= b
}
