package bench

import (
	"context"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"
)

// clockTicks is USER_HZ, the unit of /proc/<pid>/stat's CPU times: 100
// on every Linux architecture skiff runs on.
const clockTicks = 100

// ProcSample is one reading of a process's resident memory and CPU use.
type ProcSample struct {
	At time.Time
	// RSSKiB is the resident set (VmRSS).
	RSSKiB int64
	// Cores is the CPU used since the previous sample, in cores (1.5:
	// one and a half cores busy on average).
	Cores float64
}

// procTimes reads a process's resident set and its user plus system CPU
// time so far; ok is false once it is gone.
func procTimes(pid int) (rssKiB int64, cpu time.Duration, ok bool) {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, 0, false
	}
	// The command name may hold spaces and parentheses: fields start
	// after the last ')'. utime and stime are fields 14 and 15 of the
	// line, 12 and 13 after it.
	s := string(stat)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, 0, false
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 13 {
		return 0, 0, false
	}
	ut, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, 0, false
	}
	cpu = time.Duration(ut+st) * time.Second / clockTicks
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0, false
	}
	for _, line := range strings.Split(string(status), "\n") {
		if v, found := strings.CutPrefix(line, "VmRSS:"); found {
			if fs := strings.Fields(v); len(fs) > 0 {
				rssKiB, _ = strconv.ParseInt(fs[0], 10, 64)
			}
		}
	}
	return rssKiB, cpu, rssKiB > 0
}

// sampleProc reads pid every interval until ctx ends or the process is
// gone, and returns the samples.
func sampleProc(ctx context.Context, pid int, interval time.Duration) []ProcSample {
	var out []ProcSample
	_, lastCPU, ok := procTimes(pid)
	if !ok {
		return nil
	}
	last := time.Now()
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return out
		case now := <-t.C:
			rss, cpu, ok := procTimes(pid)
			if !ok {
				return out
			}
			out = append(out, ProcSample{At: now, RSSKiB: rss, Cores: (cpu - lastCPU).Seconds() / now.Sub(last).Seconds()})
			last, lastCPU = now, cpu
		}
	}
}

// ProcSummary is what a run's samples of the server come to.
type ProcSummary struct {
	PID int
	// PeakRSS is the largest resident set sampled; SteadyRSS the median
	// of the samples taken while the load ran (create to rollout).
	PeakRSS, SteadyRSS int64
	// FinalRSS is the last sample, after everything was deleted.
	FinalRSS int64
	// MeanCores and PeakCores are the server's CPU use over the load
	// phases, on average and in the busiest interval.
	MeanCores, PeakCores float64
}

// summariseProc reduces samples; from and to bound the load phases.
func summariseProc(pid int, samples []ProcSample, from, to time.Time) ProcSummary {
	s := ProcSummary{PID: pid}
	if len(samples) == 0 {
		return s
	}
	var load []int64
	var cores float64
	for _, p := range samples {
		s.PeakRSS = max(s.PeakRSS, p.RSSKiB)
		if !p.At.Before(from) && !p.At.After(to) {
			load = append(load, p.RSSKiB)
			cores += p.Cores
			s.PeakCores = max(s.PeakCores, p.Cores)
		}
	}
	s.FinalRSS = samples[len(samples)-1].RSSKiB
	if len(load) > 0 {
		sort.Slice(load, func(i, j int) bool { return load[i] < load[j] })
		s.SteadyRSS = load[len(load)/2]
		s.MeanCores = cores / float64(len(load))
	}
	return s
}
