package agent

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	statsapi "k8s.io/kubelet/pkg/apis/stats/v1alpha1"
	"k8s.io/utils/clock"
)

// The node's and its pods' cpu and memory usage, read from the cgroups the
// agent made, in the shape of the kubelet's stats Summary: what
// /stats/summary and /metrics/resource serve, and what a metrics pipeline
// (metrics-server, kubectl top) reads.
//
// The definitions are upstream's: cpu usageCoreNanoSeconds is the cgroup's
// cumulative cpu time; usageNanoCores is its rate between two readings at
// least minRateWindow apart; memory usageBytes is what the cgroup is
// charged, and workingSetBytes that minus the inactive file cache (the
// memory the kernel can drop first), never below 0.

// DefaultStatsInterval is how often StatsCollector.Run takes a reading, as
// the kubelet's cadvisor housekeeping does about every 10 seconds.
const DefaultStatsInterval = 10 * time.Second

// minRateWindow is the shortest interval a cpu rate is computed over;
// closer readings would give a rate of scheduling noise.
const minRateWindow = time.Second

// StatsConfig configures a StatsCollector.
type StatsConfig struct {
	// NodeName names the node in the Summary (required).
	NodeName string
	// Runtime lists the pods' sandboxes and containers (required).
	Runtime Runtime
	// CgroupRoot is the agent's cgroup root (Config.CgroupRoot, e.g.
	// /kubepods); empty reports pods without cpu and memory.
	CgroupRoot string
	// CgroupMount is where the cgroup filesystems are (default
	// /sys/fs/cgroup).
	CgroupMount string
	// ProcDir is the proc filesystem, for the node's memory and boot time
	// (default /proc).
	ProcDir string
	// MachineIDFile holds the host's machine ID, a label of the machine
	// metrics (default /etc/machine-id).
	MachineIDFile string
	// Interval is how often Run takes a reading (DefaultStatsInterval).
	Interval time.Duration
	// Clock is the time source; the real one by default.
	Clock clock.Clock
	// Logger logs failed readings of Run; discarded when nil.
	Logger *slog.Logger
}

func (c *StatsConfig) setDefaults() {
	if c.CgroupMount == "" {
		c.CgroupMount = "/sys/fs/cgroup"
	}
	if c.ProcDir == "" {
		c.ProcDir = "/proc"
	}
	if c.MachineIDFile == "" {
		c.MachineIDFile = "/etc/machine-id"
	}
	if c.Interval == 0 {
		c.Interval = DefaultStatsInterval
	}
	if c.Clock == nil {
		c.Clock = clock.RealClock{}
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
}

func (c *StatsConfig) validate() error {
	switch {
	case c.NodeName == "":
		return errors.New("new stats collector: NodeName is required")
	case c.Runtime == nil:
		return errors.New("new stats collector: Runtime is required")
	case c.Interval < 0:
		return fmt.Errorf("new stats collector: negative interval %s", c.Interval)
	}
	return nil
}

// StatsCollector reads the cpu and memory usage of the node, its running
// pods and their containers from their cgroups. Its methods are safe for
// concurrent use.
type StatsCollector struct {
	cfg     StatsConfig
	cgroups cgroupFS
	rates   *cpuRates
}

var _ SummaryProvider = (*StatsCollector)(nil)

// NewStatsCollector validates cfg and returns a collector.
func NewStatsCollector(cfg StatsConfig) (*StatsCollector, error) {
	cfg.setDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	return &StatsCollector{cfg: cfg, cgroups: cgroupFS{mount: cfg.CgroupMount}, rates: newCPURates(cfg.Interval)}, nil
}

// Run takes a reading every Interval until ctx is done, so that a Summary
// has a cpu rate even when nobody asked for one before.
func (s *StatsCollector) Run(ctx context.Context) error {
	for {
		if _, err := s.Summary(ctx); err != nil && ctx.Err() == nil {
			s.cfg.Logger.Debug("read resource usage", "err", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-s.cfg.Clock.After(s.cfg.Interval):
		}
	}
}

// Summary reads the usage of the node and of every pod with a ready
// sandbox, with the running containers of each.
func (s *StatsCollector) Summary(ctx context.Context) (*statsapi.Summary, error) {
	sandboxes, err := s.cfg.Runtime.ListPodSandboxes(ctx, "")
	if err != nil {
		return nil, fmt.Errorf("resource usage: list sandboxes: %w", err)
	}
	containers, err := s.cfg.Runtime.ListContainers(ctx, "")
	if err != nil {
		return nil, fmt.Errorf("resource usage: list containers: %w", err)
	}
	seen := map[string]bool{}
	sum := &statsapi.Summary{Node: s.nodeStats(seen), Pods: []statsapi.PodStats{}}
	for _, sb := range sandboxes {
		if sb.State != SandboxReady {
			continue
		}
		ps := statsapi.PodStats{
			PodRef:     statsapi.PodReference{Name: sb.Name, Namespace: sb.Namespace, UID: string(sb.PodUID)},
			StartTime:  metav1.NewTime(sb.CreatedAt),
			Containers: []statsapi.ContainerStats{},
		}
		pod := s.podCgroup(sb.PodUID)
		if pod != "" {
			ps.CPU, ps.Memory = s.read(pod, seen)
		}
		for _, c := range containers {
			if c.SandboxID != sb.ID || c.State != ContainerRunning {
				continue
			}
			cs := statsapi.ContainerStats{Name: c.Name, StartTime: metav1.NewTime(c.StartedAt)}
			if pod != "" {
				// The runtime puts each container's cgroup below the
				// pod's, named for the container (cgroupfs driver).
				cs.CPU, cs.Memory = s.read(path.Join(pod, c.ID), seen)
			}
			ps.Containers = append(ps.Containers, cs)
		}
		slices.SortFunc(ps.Containers, func(a, b statsapi.ContainerStats) int { return strings.Compare(a.Name, b.Name) })
		sum.Pods = append(sum.Pods, ps)
	}
	slices.SortFunc(sum.Pods, func(a, b statsapi.PodStats) int {
		return strings.Compare(a.PodRef.Namespace+"/"+a.PodRef.Name, b.PodRef.Namespace+"/"+b.PodRef.Name)
	})
	s.rates.forgetAllBut(seen)
	return sum, nil
}

// podCgroup is the cgroup of the pod with that UID: whichever of its QoS
// class's places exists, "" when none does.
func (s *StatsCollector) podCgroup(uid types.UID) string {
	if s.cfg.CgroupRoot == "" {
		return ""
	}
	for _, p := range podCgroupPaths(s.cfg.CgroupRoot, uid) {
		if s.cgroups.exists(p) {
			return p
		}
	}
	return ""
}

// read reads the cgroup at p now, and notes it as seen.
func (s *StatsCollector) read(p string, seen map[string]bool) (*statsapi.CPUStats, *statsapi.MemoryStats) {
	seen[p] = true
	u := s.cgroups.usage(p)
	now := s.cfg.Clock.Now()
	return s.cpuStats(p, u.cpuNanos, now), memoryStats(u, now)
}

// cpuStats is the cpu usage of the cgroup key at now, with its rate since
// an earlier reading when there is one.
func (s *StatsCollector) cpuStats(key string, nanos *uint64, now time.Time) *statsapi.CPUStats {
	if nanos == nil {
		return nil
	}
	v := *nanos
	return &statsapi.CPUStats{Time: metav1.NewTime(now), UsageCoreNanoSeconds: &v, UsageNanoCores: s.rates.observe(key, cpuPoint{at: now, nanos: v})}
}

// memoryStats is the memory usage of u at now; nil when it has none.
func memoryStats(u cgroupUsage, now time.Time) *statsapi.MemoryStats {
	if u.memUsage == nil {
		return nil
	}
	usage := *u.memUsage
	ws := workingSet(usage, u.inactiveFile)
	return &statsapi.MemoryStats{Time: metav1.NewTime(now), UsageBytes: &usage, WorkingSetBytes: &ws}
}

// workingSet is usage less the inactive file cache, never below 0.
func workingSet(usage uint64, inactiveFile *uint64) uint64 {
	if inactiveFile == nil {
		return usage
	}
	if *inactiveFile >= usage {
		return 0
	}
	return usage - *inactiveFile
}

// nodeStats reads the node's usage from the root cgroup. The v2 root has
// no memory.current, so the node's memory in use then comes from
// /proc/meminfo, as total less free.
func (s *StatsCollector) nodeStats(seen map[string]bool) statsapi.NodeStats {
	ns := statsapi.NodeStats{NodeName: s.cfg.NodeName}
	if boot, err := bootTime(s.cfg.ProcDir); err == nil {
		ns.StartTime = metav1.NewTime(boot)
	}
	seen["/"] = true
	u := s.cgroups.usage("/")
	now := s.cfg.Clock.Now()
	ns.CPU = s.cpuStats("/", u.cpuNanos, now)
	mem, memErr := readKeyed(filepath.Join(s.cfg.ProcDir, "meminfo"))
	if u.memUsage == nil && memErr == nil {
		if total, free := mem["MemTotal"], mem["MemFree"]; total >= free && total > 0 {
			used := (total - free) * 1024
			u.memUsage = &used
		}
	}
	if u.inactiveFile == nil && memErr == nil {
		if v, ok := mem["Inactive(file)"]; ok {
			v *= 1024
			u.inactiveFile = &v
		}
	}
	ns.Memory = memoryStats(u, now)
	if ns.Memory != nil && memErr == nil && mem["MemTotal"] > 0 {
		// Upstream's available memory: capacity less the working set.
		total := mem["MemTotal"] * 1024
		avail := total - min(total, *ns.Memory.WorkingSetBytes)
		ns.Memory.AvailableBytes = &avail
	}
	return ns
}

// cgroupUsage is one reading of a cgroup's counters; a nil field could
// not be read.
type cgroupUsage struct {
	// cpuNanos is the cumulative cpu time in core-nanoseconds.
	cpuNanos *uint64
	// memUsage is the memory charged to the cgroup, in bytes.
	memUsage *uint64
	// inactiveFile is the inactive file cache among it, in bytes.
	inactiveFile *uint64
	// rss is its anonymous memory and cache its page cache, in bytes
	// (memory.stat anon and file on v2, total_rss and total_cache on v1).
	rss, cache *uint64
}

// usage reads the cpu and memory counters of the cgroup at p: cpu.stat
// usage_usec, memory.current and memory.stat inactive_file, anon and file
// on v2; cpuacct.usage, memory.usage_in_bytes and memory.stat
// total_inactive_file, total_rss and total_cache (which count the cgroups
// below too) on v1.
func (c cgroupFS) usage(p string) cgroupUsage {
	var u cgroupUsage
	rel := filepath.FromSlash(p)
	if c.v2() {
		dir := filepath.Join(c.mount, rel)
		if st, err := readKeyed(filepath.Join(dir, "cpu.stat")); err == nil {
			if usec, ok := st["usage_usec"]; ok {
				n := usec * 1000
				u.cpuNanos = &n
			}
		}
		u.memUsage = readUint(filepath.Join(dir, "memory.current"))
		if st, err := readKeyed(filepath.Join(dir, "memory.stat")); err == nil {
			u.inactiveFile, u.rss, u.cache = keyed(st, "inactive_file"), keyed(st, "anon"), keyed(st, "file")
		}
		return u
	}
	u.cpuNanos = readUint(filepath.Join(c.mount, "cpuacct", rel, "cpuacct.usage"))
	mem := filepath.Join(c.mount, "memory", rel)
	u.memUsage = readUint(filepath.Join(mem, "memory.usage_in_bytes"))
	if st, err := readKeyed(filepath.Join(mem, "memory.stat")); err == nil {
		u.inactiveFile, u.rss, u.cache = keyed(st, "total_inactive_file"), keyed(st, "total_rss"), keyed(st, "total_cache")
	}
	return u
}

// keyed is the value of key in m; nil when it has none.
func keyed(m map[string]uint64, key string) *uint64 {
	v, ok := m[key]
	if !ok {
		return nil
	}
	return &v
}

// exists reports whether the cgroup at p is there (in the memory
// hierarchy on v1).
func (c cgroupFS) exists(p string) bool {
	if c.v2() {
		return exists(filepath.Join(c.mount, filepath.FromSlash(p)))
	}
	return exists(filepath.Join(c.mount, "memory", filepath.FromSlash(p)))
}

// readUint reads a file holding one unsigned number; nil when it cannot.
func readUint(file string) *uint64 {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil
	}
	v, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
	if err != nil {
		return nil
	}
	return &v
}

// readKeyed reads a file of "key value" lines (cpu.stat, memory.stat) or
// "Key: value kB" ones (/proc/meminfo) into a map; lines whose value is not
// a number are skipped.
func readKeyed(file string) (map[string]uint64, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	out := map[string]uint64{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 2 {
			continue
		}
		v, err := strconv.ParseUint(fields[1], 10, 64)
		if err != nil {
			continue
		}
		out[strings.TrimSuffix(fields[0], ":")] = v
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read %s: %w", file, err)
	}
	return out, nil
}

// bootTime is when the host booted (btime of /proc/stat), the node's
// start time as upstream reports it.
func bootTime(procDir string) (time.Time, error) {
	st, err := readKeyed(filepath.Join(procDir, "stat"))
	if err != nil {
		return time.Time{}, err
	}
	bt, ok := st["btime"]
	if !ok {
		return time.Time{}, errors.New("no btime in stat")
	}
	return time.Unix(int64(bt), 0), nil
}

// cpuPoint is one reading of a cumulative cpu counter.
type cpuPoint struct {
	at    time.Time
	nanos uint64
}

// cpuRates keeps up to two earlier readings of each cgroup's cpu counter,
// to compute its rate over at least minRateWindow whenever it is read. A
// reading is kept only when the newest kept one is at least keepEvery old,
// so that frequent requests do not shrink the window to noise.
type cpuRates struct {
	keepEvery time.Duration
	mu        sync.Mutex
	kept      map[string][]cpuPoint
}

func newCPURates(keepEvery time.Duration) *cpuRates {
	return &cpuRates{keepEvery: keepEvery, kept: map[string][]cpuPoint{}}
}

// observe notes a reading of cgroup key and returns its usage in
// nanocores since the newest kept reading at least minRateWindow older;
// nil when there is none. A counter that went back (a cgroup made anew)
// starts over.
func (r *cpuRates) observe(key string, p cpuPoint) *uint64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	kept := r.kept[key]
	if n := len(kept); n > 0 && p.nanos < kept[n-1].nanos {
		kept = nil
	}
	var rate *uint64
	for i := len(kept) - 1; i >= 0; i-- {
		if dt := p.at.Sub(kept[i].at); dt >= minRateWindow {
			v := uint64(math.Round(float64(p.nanos-kept[i].nanos) / dt.Seconds()))
			rate = &v
			break
		}
	}
	if n := len(kept); n == 0 || p.at.Sub(kept[n-1].at) >= r.keepEvery {
		kept = append(kept, p)
		if len(kept) > 2 {
			kept = kept[len(kept)-2:]
		}
	}
	r.kept[key] = kept
	return rate
}

// forgetAllBut drops the readings of cgroups not in seen (pods and
// containers that are gone).
func (r *cpuRates) forgetAllBut(seen map[string]bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for k := range r.kept {
		if !seen[k] {
			delete(r.kept, k)
		}
	}
}
