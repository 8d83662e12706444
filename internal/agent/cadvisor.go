package agent

import (
	"bufio"
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// The kubelet's /metrics/cadvisor: every cgroup the node's pods run in
// (the node's root, each pod's, each sandbox's and container's), with
// cAdvisor's metric names and labels, so that dashboards and alerts
// written for it work unchanged. Usage samples carry the time of their
// reading; the cgroups' settings (spec) and start times do not, as
// cAdvisor serves them.

// CgroupStatsProvider reports the cgroups of the node and its pods, for
// the kubelet API's /metrics/cadvisor. StatsCollector is the one that
// reads them.
type CgroupStatsProvider interface {
	// CgroupStats reads the cgroups now; its error means none could be
	// read (the runtime did not answer).
	CgroupStats(ctx context.Context) (*CgroupStats, error)
}

var _ CgroupStatsProvider = (*StatsCollector)(nil)

// CgroupStats is one reading of the machine and its pods' cgroups.
type CgroupStats struct {
	Machine MachineInfo
	Cgroups []Cgroup
}

// MachineInfo is what the node's hardware offers.
type MachineInfo struct {
	// Cores is the number of logical cpus; 0 when unknown.
	Cores int
	// MemoryBytes is the memory installed; 0 when unknown.
	MemoryBytes uint64
	// BootID and MachineID name this boot and this host.
	BootID, MachineID string
}

// Cgroup is one reading of a cgroup, labelled as cAdvisor labels it.
type Cgroup struct {
	// ID is the cgroup's path, "/" for the node's root.
	ID string
	// Name is the runtime's ID of the container or sandbox, Image the
	// container's image; both empty for the pod's and the root's cgroups.
	Name, Image string
	// Container is the container's name in the pod ("POD" for the
	// sandbox, empty for the pod's cgroup); Pod and Namespace name the
	// pod.
	Container, Pod, Namespace string
	// StartTime is when the container (or pod, or node) started.
	StartTime time.Time
	// Time is when the counters were read.
	Time time.Time
	// CPUNanos is the cumulative cpu time in core-nanoseconds.
	CPUNanos *uint64
	// Memory in bytes: charged (usage), less the inactive file cache
	// (working set), anonymous (rss) and page cache.
	MemoryUsage, WorkingSet, RSS, Cache *uint64
	// Spec is the cgroup's cpu and memory settings.
	Spec CgroupSpec
}

// CgroupSpec is the cpu and memory settings of a cgroup.
type CgroupSpec struct {
	// HasCPU says the cpu settings could be read; CPUShares is the
	// weight in cgroup v1 shares, CPUQuota and CPUPeriod the CFS quota
	// and period in microseconds (0 quota: unlimited).
	HasCPU                         bool
	CPUShares, CPUQuota, CPUPeriod uint64
	// HasMemory says the memory limit could be read; 0 is unlimited.
	HasMemory   bool
	MemoryLimit uint64
}

// podInfraContainerName is the container label of a pod's sandbox, as the
// kubelet names it.
const podInfraContainerName = "POD"

// CgroupStats reads the cgroups of the node's root, of every pod with a
// ready sandbox, its sandbox and its running containers.
func (s *StatsCollector) CgroupStats(ctx context.Context) (*CgroupStats, error) {
	sandboxes, err := s.cfg.Runtime.ListPodSandboxes(ctx, "")
	if err != nil {
		return nil, fmt.Errorf("cgroup stats: list sandboxes: %w", err)
	}
	containers, err := s.cfg.Runtime.ListContainers(ctx, "")
	if err != nil {
		return nil, fmt.Errorf("cgroup stats: list containers: %w", err)
	}
	out := &CgroupStats{Machine: s.machineInfo()}
	root := Cgroup{ID: "/"}
	if boot, err := bootTime(s.cfg.ProcDir); err == nil {
		root.StartTime = boot
	}
	u := s.readCgroup(&root)
	if u.memUsage == nil {
		// The v2 root has no memory.current: as in the Summary, the
		// node's memory in use is total less free.
		if mem, err := readKeyed(filepath.Join(s.cfg.ProcDir, "meminfo")); err == nil && mem["MemTotal"] >= mem["MemFree"] && mem["MemTotal"] > 0 {
			used := (mem["MemTotal"] - mem["MemFree"]) * 1024
			inactive := u.inactiveFile
			if v, ok := mem["Inactive(file)"]; ok && inactive == nil {
				v *= 1024
				inactive = &v
			}
			ws := workingSet(used, inactive)
			root.MemoryUsage, root.WorkingSet = &used, &ws
		}
	}
	out.Cgroups = append(out.Cgroups, root)
	pods := map[string]bool{}
	for _, sb := range sandboxes {
		if sb.State != SandboxReady {
			continue
		}
		pod := s.podCgroup(sb.PodUID)
		if pod == "" {
			continue
		}
		if !pods[pod] {
			// Once, though a pod may have two ready sandboxes for a
			// moment: a series may appear only once in a scrape.
			pods[pod] = true
			pc := Cgroup{ID: pod, Pod: sb.Name, Namespace: sb.Namespace, StartTime: sb.CreatedAt}
			s.readCgroup(&pc)
			out.Cgroups = append(out.Cgroups, pc)
		}
		// The runtime puts the sandbox's and each container's cgroup
		// below the pod's, named for their IDs (cgroupfs driver).
		if p := path.Join(pod, sb.ID); s.cgroups.exists(p) {
			c := Cgroup{ID: p, Name: sb.ID, Container: podInfraContainerName, Pod: sb.Name, Namespace: sb.Namespace, StartTime: sb.CreatedAt}
			s.readCgroup(&c)
			out.Cgroups = append(out.Cgroups, c)
		}
		for _, ct := range containers {
			if ct.SandboxID != sb.ID || ct.State != ContainerRunning {
				continue
			}
			c := Cgroup{ID: path.Join(pod, ct.ID), Name: ct.ID, Image: ct.Image, Container: ct.Name, Pod: sb.Name, Namespace: sb.Namespace, StartTime: ct.StartedAt}
			s.readCgroup(&c)
			out.Cgroups = append(out.Cgroups, c)
		}
	}
	slices.SortFunc(out.Cgroups, func(a, b Cgroup) int { return strings.Compare(a.ID, b.ID) })
	return out, nil
}

// readCgroup fills c's counters and settings from the cgroup at c.ID,
// and returns the counters as read.
func (s *StatsCollector) readCgroup(c *Cgroup) cgroupUsage {
	u := s.cgroups.usage(c.ID)
	c.Time = s.cfg.Clock.Now()
	c.CPUNanos, c.RSS, c.Cache = u.cpuNanos, u.rss, u.cache
	if u.memUsage != nil {
		usage := *u.memUsage
		ws := workingSet(usage, u.inactiveFile)
		c.MemoryUsage, c.WorkingSet = &usage, &ws
	}
	c.Spec = s.cgroups.spec(c.ID)
	return u
}

// machineInfo reads the node's logical cpus (/proc/cpuinfo), memory
// (/proc/meminfo), boot ID and machine ID.
func (s *StatsCollector) machineInfo() MachineInfo {
	var m MachineInfo
	if f, err := os.Open(filepath.Join(s.cfg.ProcDir, "cpuinfo")); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if k, _, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "processor" {
				m.Cores++
			}
		}
		f.Close()
	}
	if mem, err := readKeyed(filepath.Join(s.cfg.ProcDir, "meminfo")); err == nil {
		m.MemoryBytes = mem["MemTotal"] * 1024
	}
	if b, err := os.ReadFile(filepath.Join(s.cfg.ProcDir, "sys", "kernel", "random", "boot_id")); err == nil {
		m.BootID = strings.TrimSpace(string(b))
	}
	if b, err := os.ReadFile(s.cfg.MachineIDFile); err == nil {
		m.MachineID = strings.TrimSpace(string(b))
	}
	return m
}

// spec reads the cpu and memory settings of the cgroup at p, those that
// are there: cpu.weight (as shares), cpu.max and memory.max on v2;
// cpu.shares, cpu.cfs_quota_us, cpu.cfs_period_us and
// memory.limit_in_bytes on v1. Unlimited reads 0.
func (c cgroupFS) spec(p string) CgroupSpec {
	var sp CgroupSpec
	rel := filepath.FromSlash(p)
	readInt := func(file string) (int64, bool) {
		b, err := os.ReadFile(file)
		if err != nil {
			return 0, false
		}
		v, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
		return v, err == nil
	}
	if c.v2() {
		dir := filepath.Join(c.mount, rel)
		w, okW := readInt(filepath.Join(dir, "cpu.weight"))
		b, err := os.ReadFile(filepath.Join(dir, "cpu.max"))
		if f := strings.Fields(string(b)); okW && err == nil && len(f) == 2 {
			sp.HasCPU = true
			sp.CPUShares = uint64(minCPUShares + (w-1)*(maxCPUShares-minCPUShares)/9999)
			q, _ := strconv.ParseUint(f[0], 10, 64) // "max" reads 0
			sp.CPUQuota = q
			sp.CPUPeriod, _ = strconv.ParseUint(f[1], 10, 64)
		}
		if b, err := os.ReadFile(filepath.Join(dir, "memory.max")); err == nil {
			sp.HasMemory = true
			sp.MemoryLimit, _ = strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64) // "max" reads 0
		}
		return sp
	}
	cpu := filepath.Join(c.mount, "cpu", rel)
	shares, okS := readInt(filepath.Join(cpu, "cpu.shares"))
	quota, okQ := readInt(filepath.Join(cpu, "cpu.cfs_quota_us"))
	period, okP := readInt(filepath.Join(cpu, "cpu.cfs_period_us"))
	if okS && okQ && okP {
		sp.HasCPU = true
		sp.CPUShares, sp.CPUQuota, sp.CPUPeriod = uint64(max(shares, 0)), uint64(max(quota, 0)), uint64(max(period, 0))
	}
	if limit, ok := readInt(filepath.Join(c.mount, "memory", rel, "memory.limit_in_bytes")); ok {
		sp.HasMemory = true
		if limit > 0 && limit < unlimitedMemory {
			sp.MemoryLimit = uint64(limit)
		}
	}
	return sp
}

// serveCadvisorMetrics answers the kubelet's /metrics/cadvisor.
func (s *Server) serveCadvisorMetrics(w http.ResponseWriter, r *http.Request) {
	if s.cfg.Cgroups == nil {
		http.Error(w, "container metrics are not available on this node", http.StatusNotImplemented)
		return
	}
	// A registry per request, as for /metrics/resource.
	reg := prometheus.NewRegistry()
	if err := reg.Register(cadvisorCollector{cadvisorDescs: newCadvisorDescs(), ctx: r.Context(), stats: s.cfg.Cgroups, log: s.cfg.Logger}); err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	promhttp.HandlerFor(reg, promhttp.HandlerOpts{}).ServeHTTP(w, r)
}

// cadvisorDescs are the metrics of /metrics/cadvisor, with cAdvisor's
// names, types and labels.
type cadvisorDescs struct {
	cpu, memUsage, workingSet, rss, cache, lastSeen *prometheus.Desc
	start, memLimit, cpuShares, cpuQuota, cpuPeriod *prometheus.Desc
	cores, memory, scrapeError                      *prometheus.Desc
}

func newCadvisorDescs() cadvisorDescs {
	// The labels of every container series: the Kubernetes names the
	// kubelet adds, and cAdvisor's own (cgroup, runtime name, image).
	l := []string{"container", "id", "image", "name", "namespace", "pod"}
	cpu := append(slices.Clone(l), "cpu")
	machine := []string{"boot_id", "machine_id", "system_uuid"}
	return cadvisorDescs{
		cpu:         prometheus.NewDesc("container_cpu_usage_seconds_total", "Cpu time the container has used since it started, in seconds.", cpu, nil),
		memUsage:    prometheus.NewDesc("container_memory_usage_bytes", "Memory charged to the container now, whether recently used or not, in bytes.", l, nil),
		workingSet:  prometheus.NewDesc("container_memory_working_set_bytes", "Memory in the container's working set now, in bytes.", l, nil),
		rss:         prometheus.NewDesc("container_memory_rss", "Anonymous memory (RSS) of the container, in bytes.", l, nil),
		cache:       prometheus.NewDesc("container_memory_cache", "Page cache memory of the container, in bytes.", l, nil),
		lastSeen:    prometheus.NewDesc("container_last_seen", "When the container was last seen, in seconds since the Unix epoch.", l, nil),
		start:       prometheus.NewDesc("container_start_time_seconds", "When the container started, in seconds since the Unix epoch.", l, nil),
		memLimit:    prometheus.NewDesc("container_spec_memory_limit_bytes", "The container's memory limit in bytes; 0 when it has none.", l, nil),
		cpuShares:   prometheus.NewDesc("container_spec_cpu_shares", "The container's cpu shares.", l, nil),
		cpuQuota:    prometheus.NewDesc("container_spec_cpu_quota", "The container's cpu quota per period, in microseconds.", l, nil),
		cpuPeriod:   prometheus.NewDesc("container_spec_cpu_period", "The container's cpu quota period, in microseconds.", l, nil),
		cores:       prometheus.NewDesc("machine_cpu_cores", "Logical cpu cores of the machine.", machine, nil),
		memory:      prometheus.NewDesc("machine_memory_bytes", "Memory installed in the machine, in bytes.", machine, nil),
		scrapeError: prometheus.NewDesc("container_scrape_error", "1 when the containers' metrics could not be read, else 0.", nil, nil),
	}
}

// cadvisorCollector turns one CgroupStats into cAdvisor's metrics.
type cadvisorCollector struct {
	cadvisorDescs
	ctx   context.Context
	stats CgroupStatsProvider
	log   *slog.Logger
}

var _ prometheus.Collector = cadvisorCollector{}

// Describe implements prometheus.Collector.
func (c cadvisorCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.cpu, c.memUsage, c.workingSet, c.rss, c.cache, c.lastSeen, c.start,
		c.memLimit, c.cpuShares, c.cpuQuota, c.cpuPeriod, c.cores, c.memory, c.scrapeError} {
		ch <- d
	}
}

// Collect implements prometheus.Collector. When the cgroups cannot be
// read, only the scrape error is reported, set to 1.
func (c cadvisorCollector) Collect(ch chan<- prometheus.Metric) {
	st, err := c.stats.CgroupStats(c.ctx)
	if err != nil {
		c.log.Debug("cadvisor metrics", "err", err)
		ch <- prometheus.MustNewConstMetric(c.scrapeError, prometheus.GaugeValue, 1)
		return
	}
	ch <- prometheus.MustNewConstMetric(c.scrapeError, prometheus.GaugeValue, 0)
	m := st.Machine
	if m.Cores > 0 {
		ch <- prometheus.MustNewConstMetric(c.cores, prometheus.GaugeValue, float64(m.Cores), m.BootID, m.MachineID, "")
	}
	if m.MemoryBytes > 0 {
		ch <- prometheus.MustNewConstMetric(c.memory, prometheus.GaugeValue, float64(m.MemoryBytes), m.BootID, m.MachineID, "")
	}
	for _, cg := range st.Cgroups {
		l := []string{cg.Container, cg.ID, cg.Image, cg.Name, cg.Namespace, cg.Pod}
		stamped := func(d *prometheus.Desc, t prometheus.ValueType, v float64, labels ...string) {
			ch <- prometheus.NewMetricWithTimestamp(cg.Time, prometheus.MustNewConstMetric(d, t, v, labels...))
		}
		gauge := func(d *prometheus.Desc, v *uint64) {
			if v != nil {
				stamped(d, prometheus.GaugeValue, float64(*v), l...)
			}
		}
		if cg.CPUNanos != nil {
			// Per-cpu usage is not read: one series, cpu="total", as
			// the kubelet serves it.
			stamped(c.cpu, prometheus.CounterValue, float64(*cg.CPUNanos)/float64(time.Second), append(slices.Clone(l), "total")...)
		}
		gauge(c.memUsage, cg.MemoryUsage)
		gauge(c.workingSet, cg.WorkingSet)
		gauge(c.rss, cg.RSS)
		gauge(c.cache, cg.Cache)
		stamped(c.lastSeen, prometheus.GaugeValue, float64(cg.Time.Unix()), l...)
		if !cg.StartTime.IsZero() {
			ch <- prometheus.MustNewConstMetric(c.start, prometheus.GaugeValue, float64(cg.StartTime.UnixNano())/float64(time.Second), l...)
		}
		if sp := cg.Spec; sp.HasCPU {
			ch <- prometheus.MustNewConstMetric(c.cpuShares, prometheus.GaugeValue, float64(sp.CPUShares), l...)
			if sp.CPUPeriod > 0 {
				ch <- prometheus.MustNewConstMetric(c.cpuPeriod, prometheus.GaugeValue, float64(sp.CPUPeriod), l...)
			}
			if sp.CPUQuota > 0 {
				ch <- prometheus.MustNewConstMetric(c.cpuQuota, prometheus.GaugeValue, float64(sp.CPUQuota), l...)
			}
		}
		if cg.Spec.HasMemory {
			ch <- prometheus.MustNewConstMetric(c.memLimit, prometheus.GaugeValue, float64(cg.Spec.MemoryLimit), l...)
		}
	}
}
