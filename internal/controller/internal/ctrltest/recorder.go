package ctrltest

import (
	"fmt"
	"sync"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/tools/events"
)

// Recorder keeps the events a controller records, for tests to assert on.
type Recorder struct {
	mu     sync.Mutex
	events []string
}

var _ events.EventRecorder = (*Recorder)(nil)

// Eventf records "<type> <reason> <note>".
func (r *Recorder) Eventf(_, _ runtime.Object, eventtype, reason, _, note string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, eventtype+" "+reason+" "+fmt.Sprintf(note, args...))
}

// Reasons returns the reasons recorded so far, in order.
func (r *Recorder) Reasons() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, e := range r.events {
		var typ, reason string
		fmt.Sscan(e, &typ, &reason)
		out = append(out, reason)
	}
	return out
}

// Has reports whether an event with reason was recorded.
func (r *Recorder) Has(reason string) bool {
	for _, x := range r.Reasons() {
		if x == reason {
			return true
		}
	}
	return false
}
