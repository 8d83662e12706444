package procmem

import (
	"context"
	"log/slog"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"sync/atomic"
	"time"
)

// GCConfig tunes a GCPacer. Zero fields take the defaults.
type GCConfig struct {
	// Headroom is how far the heap may grow past the live heap while the
	// process is busy. Default: a sixteenth of the memory it may use (the
	// machine's RAM, or its cgroup's limit if lower), between 64 MiB and
	// 256 MiB.
	Headroom uint64
	// BusyRate is the allocation rate, in bytes per second, from which
	// the process counts as busy. Default: 32 MiB/s, some hundred times
	// what an idle server allocates.
	BusyRate float64
	// Quiet is how long the rate must stay under BusyRate before the
	// heap goal comes down again. Default: 2s.
	Quiet time.Duration
	// Interval is how often the pacer samples the rate. Default: 50ms.
	Interval time.Duration
	// Logger receives the pacer's changes at debug level; nil means
	// slog.Default().
	Logger *slog.Logger
}

func (c GCConfig) withDefaults() GCConfig {
	if c.Headroom == 0 {
		c.Headroom = min(max(physicalMemory()/16, 64<<20), 256<<20)
	}
	if c.BusyRate == 0 {
		c.BusyRate = 32 << 20
	}
	if c.Quiet == 0 {
		c.Quiet = 2 * time.Second
	}
	if c.Interval == 0 {
		c.Interval = 50 * time.Millisecond
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}

// GCPacer raises the garbage collector's heap goal while the process
// allocates fast, and lowers it again, handing the memory back to the
// system, once the process is quiet.
//
// With GOGC's 100 the heap goal is twice the live heap. An API server's
// live heap is small (15 to 40 MB), so under load it collects several
// times a second, and on a small machine each cycle's marking takes the
// CPU that requests in flight were using: latency peaks with every cycle.
// While busy the pacer lets the heap grow Headroom past the live heap
// instead, so cycles are rare; when quiet, GOGC is back to its value at
// start and idle memory is what it was.
//
// An operator who sets GOGC keeps it: the pacer then does nothing.
type GCPacer struct {
	cfg GCConfig
}

// NewGCPacer returns a pacer; Run starts it.
func NewGCPacer(cfg GCConfig) *GCPacer {
	return &GCPacer{cfg: cfg.withDefaults()}
}

// pacerState is what the pacer has decided so far, and what it decides
// from: a pure function of the samples it is shown.
type pacerState struct {
	busy      bool
	quietFrom time.Time // since when the rate has been under BusyRate while busy; zero if it is not
	percent   int       // GOGC in force
}

// sample is one reading of the allocation counters.
type sample struct {
	at     time.Time
	allocs uint64 // bytes allocated since start
	live   uint64 // live heap at the end of the last cycle
}

// next decides, from the samples before and now, the GOGC to set (0: leave
// it as it is) and whether the memory freed should go back to the system.
func (s *pacerState) next(cfg GCConfig, base int, before, now sample) (percent int, release bool) {
	elapsed := now.at.Sub(before.at).Seconds()
	if elapsed <= 0 || now.allocs < before.allocs {
		return 0, false
	}
	rate := float64(now.allocs-before.allocs) / elapsed
	if rate >= cfg.BusyRate {
		s.busy = true
		s.quietFrom = time.Time{}
		p := gcPercent(now.live, cfg.Headroom, base)
		if p == s.percent {
			return 0, false
		}
		s.percent = p
		return p, false
	}
	if !s.busy {
		return 0, false
	}
	if s.quietFrom.IsZero() {
		s.quietFrom = before.at // the rate was low since then
	}
	if now.at.Sub(s.quietFrom) < cfg.Quiet {
		return 0, false
	}
	s.busy = false
	s.quietFrom = time.Time{}
	s.percent = base
	return base, true
}

// gcPercent is the GOGC that lets a heap of live bytes grow headroom bytes
// before the next cycle, never below base.
func gcPercent(live, headroom uint64, base int) int {
	live = max(live, 4<<20) // the runtime's own floor for a heap goal
	return max(base, int(headroom*100/live))
}

// Run paces the collector until ctx is done, then leaves GOGC as it found it.
func (p *GCPacer) Run(ctx context.Context) error {
	if _, set := os.LookupEnv("GOGC"); set {
		<-ctx.Done()
		return nil
	}
	base := debug.SetGCPercent(100) // GOGC outside busy periods
	debug.SetGCPercent(base)
	if base < 0 {
		<-ctx.Done()
		return nil
	}
	defer debug.SetGCPercent(base)

	// A tick is cheap (two counters read), and the collector's own cycles
	// are no clock: after an idle spell the first cycle of a burst comes
	// long after the one before, when the rate over the gap says nothing.
	// But an idle process should not wake 20 times a second for nothing:
	// while quiet the pacer sleeps until a collection cycle runs (an idle
	// server's heap grows by a cycle's worth in minutes; a burst's in well
	// under a second), then samples on its ticks until quiet again.
	cycles, stopCycles := gcCycles()
	defer stopCycles()
	ticker := time.NewTicker(p.cfg.Interval)
	defer ticker.Stop()
	state := pacerState{percent: base}
	before := read()
	sampling := true
	for {
		if !sampling {
			select {
			case <-ctx.Done():
				return nil
			case <-cycles:
			}
			before = read()
			ticker.Reset(p.cfg.Interval)
			sampling = true
			continue
		}
		select {
		case <-ctx.Done():
			return nil
		case <-ticker.C:
		}
		now := read()
		percent, release := state.next(p.cfg, base, before, now)
		before = now
		if percent != 0 {
			debug.SetGCPercent(percent)
			p.cfg.Logger.Debug("gc pacing", "busy", state.busy, "gogc", percent, "liveMiB", now.live>>20)
		}
		if release {
			debug.FreeOSMemory()
		}
		if !state.busy {
			ticker.Stop()
			sampling = false
		}
	}
}

// gcCycles signals on the channel after each garbage collection cycle,
// until stop is called.
func gcCycles() (cycles <-chan struct{}, stop func()) {
	ch := make(chan struct{}, 1)
	var stopped atomic.Bool
	var arm func()
	arm = func() {
		// A finalizer runs once its object is found unreachable, that
		// is after the next cycle; it arms the next one.
		runtime.SetFinalizer(new(gcSentinel), func(*gcSentinel) {
			if stopped.Load() {
				return
			}
			select {
			case ch <- struct{}{}:
			default:
			}
			arm()
		})
	}
	arm()
	return ch, func() { stopped.Store(true) }
}

// gcSentinel is big enough not to share a tiny allocation block, whose
// finalizers would wait for every object in it.
type gcSentinel struct{ _ [32]byte }

var sampleMetrics = []string{"/gc/heap/allocs:bytes", "/gc/heap/live:bytes"}

// read samples the allocation counters.
func read() sample {
	m := make([]metrics.Sample, len(sampleMetrics))
	for i, name := range sampleMetrics {
		m[i].Name = name
	}
	metrics.Read(m)
	s := sample{at: time.Now()}
	if m[0].Value.Kind() == metrics.KindUint64 {
		s.allocs = m[0].Value.Uint64()
	}
	if m[1].Value.Kind() == metrics.KindUint64 {
		s.live = m[1].Value.Uint64()
	}
	return s
}
