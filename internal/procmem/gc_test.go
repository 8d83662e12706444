package procmem

import (
	"context"
	"os"
	"runtime"
	"runtime/metrics"
	"testing"
	"time"
)

func TestGCPercent(t *testing.T) {
	tests := []struct {
		name           string
		live, headroom uint64
		base, want     int
	}{
		{"headroom eight times the live heap", 32 << 20, 256 << 20, 100, 800},
		{"never under base", 512 << 20, 256 << 20, 100, 100},
		{"a tiny heap counts as the runtime's 4 MiB floor", 1 << 20, 64 << 20, 100, 1600},
		{"a higher base stays", 64 << 20, 64 << 20, 150, 150},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := gcPercent(tt.live, tt.headroom, tt.base); got != tt.want {
				t.Errorf("gcPercent(%d, %d, %d) = %d, want %d", tt.live, tt.headroom, tt.base, got, tt.want)
			}
		})
	}
}

// TestPacerStateNext walks the pacer through a busy period and back.
func TestPacerStateNext(t *testing.T) {
	cfg := GCConfig{Headroom: 256 << 20, BusyRate: 32 << 20, Quiet: 2 * time.Second}
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	at := func(ms int, allocMiB, liveMiB uint64) sample {
		return sample{at: t0.Add(time.Duration(ms) * time.Millisecond), allocs: allocMiB << 20, live: liveMiB << 20}
	}
	type step struct {
		now         sample
		wantPercent int
		wantRelease bool
		wantBusy    bool
	}
	steps := []step{
		// 10 MiB in a second: idle, nothing changes.
		{at(1000, 10, 16), 0, false, false},
		// 20 MiB in 100ms (200 MiB/s): busy, the heap may grow 256 MiB.
		{at(1100, 30, 16), 1600, false, true},
		// Still busy, same live heap: no change.
		{at(1350, 70, 16), 0, false, true},
		// The live heap doubled: the percent halves to keep the headroom.
		{at(1600, 110, 32), 800, false, true},
		// Quiet from here (1 MiB in 250ms is 4 MiB/s)...
		{at(1850, 111, 32), 0, false, true},
		// ...not yet for 2s...
		{at(3000, 112, 32), 0, false, true},
		// ...now for 2s: back to base, and the memory goes back.
		{at(3850, 113, 32), 100, true, false},
		// Idle again: nothing changes.
		{at(4850, 114, 32), 0, false, false},
		// Busy again, then a quiet spell interrupted by load: the quiet
		// time starts again.
		{at(4950, 134, 32), 800, false, true},
		{at(5950, 135, 32), 0, false, true},
		{at(6050, 155, 32), 0, false, true},
		{at(7950, 156, 32), 0, false, true},
		{at(8100, 157, 32), 100, true, false},
	}
	s := pacerState{percent: 100}
	before := at(0, 0, 16)
	for i, st := range steps {
		percent, release := s.next(cfg, 100, before, st.now)
		if percent != st.wantPercent || release != st.wantRelease || s.busy != st.wantBusy {
			t.Fatalf("step %d: got percent %d, release %v, busy %v; want %d, %v, %v", i, percent, release, s.busy, st.wantPercent, st.wantRelease, st.wantBusy)
		}
		before = st.now
	}
}

// TestGCPacerRun runs the pacer in this process: fast allocation raises
// GOGC, quiet brings it back.
func TestGCPacerRun(t *testing.T) {
	if _, set := os.LookupEnv("GOGC"); set {
		t.Skip("GOGC is set: the pacer leaves it alone")
	}
	gogc := func() uint64 {
		m := []metrics.Sample{{Name: "/gc/gogc:percent"}}
		metrics.Read(m)
		return m[0].Value.Uint64()
	}
	base := gogc()
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	p := NewGCPacer(GCConfig{Headroom: 64 << 20, BusyRate: 1 << 20, Quiet: 200 * time.Millisecond, Interval: 20 * time.Millisecond})
	go func() { done <- p.Run(ctx) }()

	var sink [][]byte
	waitFor := func(what string, cond func() bool, work func()) {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for !cond() {
			if time.Now().After(deadline) {
				t.Fatalf("%s: GOGC is %d", what, gogc())
			}
			work()
		}
	}
	waitFor("GOGC raised under load", func() bool { return gogc() > base }, func() {
		for range 64 {
			sink = append(sink, make([]byte, 64<<10))
		}
		sink = sink[:0]
		runtime.GC()
	})
	waitFor("GOGC back when quiet", func() bool { return gogc() == base }, func() { time.Sleep(10 * time.Millisecond) })
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if got := gogc(); got != base {
		t.Fatalf("GOGC after Run: %d, want %d", got, base)
	}
}

func TestGCCycles(t *testing.T) {
	cycles, stop := gcCycles()
	defer stop()
	for i := range 3 {
		runtime.GC()
		select {
		case <-cycles:
		case <-time.After(10 * time.Second):
			t.Fatalf("no signal after collection %d", i)
		}
	}
	stop()
	runtime.GC()
	runtime.GC()
	// What was pending at stop may still arrive, but no more after it.
	select {
	case <-cycles:
	default:
	}
	runtime.GC()
	time.Sleep(50 * time.Millisecond)
	select {
	case <-cycles:
		t.Fatal("a signal after stop")
	default:
	}
}
