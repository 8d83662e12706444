package etcdtest

import (
	"bytes"
	"fmt"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"
)

// leakWait bounds how long Main waits for goroutines to wind down after the
// tests; closing etcd and gRPC connections ends goroutines asynchronously.
const leakWait = 10 * time.Second

// ignoredTops are functions at the top of goroutines that libraries start
// once per process and never stop; they are not leaks of a test.
var ignoredTops = []string{
	"testing.(*M).",
	"testing.tRunner",
	"os/signal.signal_recv",
	"os/signal.loop",
	"runtime.ensureSigM",
	"runtime.goexit",
	"created by runtime.gc",
	"go.opencensus.io/stats/view.(*worker).start",
	"google.golang.org/grpc/internal/grpcsync.(*CallbackSerializer).run",
}

// Main runs the package's tests and then checks that every goroutine they
// started has exited, failing the run if any is still there after a grace
// period. Call it from TestMain: func TestMain(m *testing.M) { etcdtest.Main(m) }.
func Main(m *testing.M) {
	before := goroutineIDs()
	code := m.Run()
	if code == 0 {
		if leaked := waitForLeaks(before, leakWait); leaked != "" {
			fmt.Fprintf(os.Stderr, "goroutines leaked by the tests:\n\n%s\n", leaked)
			code = 1
		}
	}
	os.Exit(code)
}

// waitForLeaks polls until no goroutine outside before is left, and returns
// the stacks of those still running at the deadline. It collects garbage
// first each time: client-go stops the certificate-reloading goroutine of
// a transport (a client with certificate files) once the transport is
// collected, so such a goroutine outlives the test only while something
// still holds its client.
func waitForLeaks(before map[string]bool, wait time.Duration) string {
	deadline := time.Now().Add(wait)
	for delay := time.Millisecond; ; delay = min(2*delay, 100*time.Millisecond) {
		runtime.GC()
		leaked := leakedStacks(before)
		if len(leaked) == 0 {
			return ""
		}
		if time.Now().After(deadline) {
			return strings.Join(leaked, "\n\n")
		}
		time.Sleep(delay) // polling a condition, not timing a result
	}
}

func leakedStacks(before map[string]bool) []string {
	all := stacks()
	cache := transportCacheGoroutines(all)
	var out []string
	for _, g := range all {
		id, _, _ := strings.Cut(strings.TrimPrefix(g, "goroutine "), " ")
		if before[id] || cache[id] || ignored(g) {
			continue
		}
		out = append(out, g)
	}
	return out
}

func ignored(stack string) bool {
	lines := strings.Split(stack, "\n")
	if len(lines) < 2 {
		return true
	}
	top := lines[1]
	// The goroutine running this check is not a leak.
	if strings.Contains(stack, "etcdtest.leakedStacks") {
		return true
	}
	for _, fn := range ignoredTops {
		if strings.HasPrefix(top, fn) {
			return true
		}
	}
	return false
}

func goroutineIDs() map[string]bool {
	ids := map[string]bool{}
	for _, g := range stacks() {
		id, _, _ := strings.Cut(strings.TrimPrefix(g, "goroutine "), " ")
		ids[id] = true
	}
	return ids
}

func stacks() []string {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	return strings.Split(string(bytes.TrimSpace(buf)), "\n\n")
}

// transportCacheGoroutines are the goroutines of client-go's transport
// cache: for a client that reads its certificate from files, the cache
// starts a watcher (with a work queue and a poller) that ends only when
// the garbage collector frees the transport, which a finished test's
// leftovers (its testing.T keeps its cleanups) may still reach. They are
// the watchers, what they started, and the delaying queues started by
// the goroutine that started a watcher.
func transportCacheGoroutines(all []string) map[string]bool {
	type g struct{ id, creator, stack string }
	var gs []g
	for _, st := range all {
		id, _, _ := strings.Cut(strings.TrimPrefix(st, "goroutine "), " ")
		creator := ""
		if i := strings.LastIndex(st, " in goroutine "); i >= 0 {
			creator, _, _ = strings.Cut(st[i+len(" in goroutine "):], "\n")
		}
		gs = append(gs, g{id, strings.TrimSpace(creator), st})
	}
	out := map[string]bool{}
	starters := map[string]bool{}
	for _, x := range gs {
		if strings.Contains(x.stack, "created by k8s.io/client-go/transport.(*tlsTransportCache).get") {
			out[x.id], starters[x.creator] = true, true
		}
	}
	for _, x := range gs {
		if starters[x.creator] && strings.Contains(x.stack, "k8s.io/client-go/util/workqueue.(*delayingType[...]).waitingLoop") {
			out[x.id] = true
		}
	}
	for changed := true; changed; {
		changed = false
		for _, x := range gs {
			if !out[x.id] && out[x.creator] {
				out[x.id], changed = true, true
			}
		}
	}
	return out
}
