package agent

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/fake"
	statsapi "k8s.io/kubelet/pkg/apis/stats/v1alpha1"
	clocktesting "k8s.io/utils/clock/testing"
)

// writeTree writes files (path relative to root: content) below root.
func writeTree(t testing.TB, root string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		p := filepath.Join(root, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func u64(v uint64) *uint64 { return &v }

// dump shows v's fields as JSON, pointed-to numbers included.
func dump(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

func TestStatsCgroupUsage(t *testing.T) {
	tests := []struct {
		name  string
		files map[string]string
		path  string
		want  cgroupUsage
		ws    uint64
	}{{
		name: "v2",
		files: map[string]string{
			"cgroup.controllers":           "cpu memory pids\n",
			"kubepods/pod1/cpu.stat":       "usage_usec 2500000\nuser_usec 2000000\nsystem_usec 500000\n",
			"kubepods/pod1/memory.current": "10485760\n",
			"kubepods/pod1/memory.stat":    "anon 6291456\nfile 4194304\nactive_file 1048576\ninactive_file 3145728\n",
		},
		path: "/kubepods/pod1",
		want: cgroupUsage{cpuNanos: u64(2_500_000_000), memUsage: u64(10485760), inactiveFile: u64(3145728), rss: u64(6291456), cache: u64(4194304)},
		ws:   10485760 - 3145728,
	}, {
		name: "v2 inactive file above usage",
		files: map[string]string{
			"cgroup.controllers": "cpu memory\n",
			"a/memory.current":   "4096\n",
			"a/memory.stat":      "inactive_file 8192\n",
		},
		path: "/a",
		want: cgroupUsage{memUsage: u64(4096), inactiveFile: u64(8192)},
		ws:   0,
	}, {
		name: "v1",
		files: map[string]string{
			"cpuacct/kubepods/pod1/cpuacct.usage":        "123456789\n",
			"memory/kubepods/pod1/memory.usage_in_bytes": "2000000\n",
			// total_inactive_file counts the cgroups below; inactive_file
			// only the cgroup's own pages.
			"memory/kubepods/pod1/memory.stat": "cache 900000\ninactive_file 1\ntotal_inactive_file 500000\ntotal_cache 900000\ntotal_rss 1100000\n",
		},
		path: "/kubepods/pod1",
		want: cgroupUsage{cpuNanos: u64(123456789), memUsage: u64(2000000), inactiveFile: u64(500000), rss: u64(1100000), cache: u64(900000)},
		ws:   1500000,
	}, {
		name:  "absent",
		files: map[string]string{"cgroup.controllers": "cpu memory\n"},
		path:  "/gone",
		want:  cgroupUsage{},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := t.TempDir()
			writeTree(t, root, tt.files)
			got := cgroupFS{mount: root}.usage(tt.path)
			if diff := cmp.Diff(tt.want, got, cmp.AllowUnexported(cgroupUsage{})); diff != "" {
				t.Errorf("usage (-want +got):\n%s", diff)
			}
			if got.memUsage == nil {
				return
			}
			if ws := workingSet(*got.memUsage, got.inactiveFile); ws != tt.ws {
				t.Errorf("working set = %d, want %d", ws, tt.ws)
			}
		})
	}
}

func TestStatsCPURate(t *testing.T) {
	t0 := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	type obs struct {
		after time.Duration
		nanos uint64
		want  *uint64
	}
	tests := []struct {
		name string
		obs  []obs
	}{{
		name: "first reading has no rate",
		obs:  []obs{{0, 5e9, nil}},
	}, {
		name: "rate over ten seconds",
		// 2.5 core-seconds in 10 s: a quarter of a core.
		obs: []obs{{0, 5e9, nil}, {10 * time.Second, 7.5e9, u64(250_000_000)}},
	}, {
		name: "readings closer than the window have no rate yet",
		obs:  []obs{{0, 5e9, nil}, {500 * time.Millisecond, 5.1e9, nil}},
	}, {
		name: "frequent readings measure from the kept one",
		// Kept: t0 and t0+10s. At +10.5s the newest kept is too recent,
		// so the rate is over the 10.5 s since t0: 2.1e9/10.5 = 0.2 core.
		obs: []obs{{0, 5e9, nil}, {10 * time.Second, 6e9, u64(100_000_000)}, {10500 * time.Millisecond, 7.1e9, u64(200_000_000)}},
	}, {
		name: "a counter that went back starts over",
		obs:  []obs{{0, 5e9, nil}, {10 * time.Second, 1e9, nil}, {20 * time.Second, 2e9, u64(100_000_000)}},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newCPURates(10 * time.Second)
			for i, o := range tt.obs {
				got := r.observe("/k", cpuPoint{at: t0.Add(o.after), nanos: o.nanos})
				if diff := cmp.Diff(o.want, got); diff != "" {
					t.Errorf("reading %d: rate (-want +got):\n%s", i, diff)
				}
			}
		})
	}
}

// statsRuntime lists fixed sandboxes and containers, or fails.
type statsRuntime struct {
	Runtime
	sandboxes  []Sandbox
	containers []Container
	err        error
}

func (r statsRuntime) ListPodSandboxes(context.Context, types.UID) ([]Sandbox, error) {
	return r.sandboxes, r.err
}

func (r statsRuntime) ListContainers(context.Context, types.UID) ([]Container, error) {
	return r.containers, r.err
}

// statsNode is a node with one running pod of two containers (one of
// them not running), in a fake cgroup v2 tree and proc folder.
type statsNode struct {
	cgroups, proc string
	rt            statsRuntime
	started       time.Time
}

const statsPod = "kubepods/burstable/podu1"

func newStatsNode(t *testing.T) statsNode {
	n := statsNode{cgroups: t.TempDir(), proc: t.TempDir(), started: time.Date(2026, 12, 7, 11, 0, 0, 0, time.UTC)}
	writeTree(t, n.proc, map[string]string{
		"meminfo": "MemTotal:       8000000 kB\nMemFree:        3000000 kB\nInactive(file):  999 kB\n",
		"stat":    "cpu  1 2 3 4\nbtime 1796595454\nprocesses 10\n",
	})
	writeTree(t, n.cgroups, map[string]string{
		"cgroup.controllers": "cpu memory pids\n",
		// The v2 root has no memory.current.
		"cpu.stat":    "usage_usec 100000000\n",
		"memory.stat": "inactive_file 1024000000\n",

		statsPod + "/cpu.stat":       "usage_usec 3000000\n",
		statsPod + "/memory.current": "50000000\n",
		statsPod + "/memory.stat":    "inactive_file 10000000\n",

		statsPod + "/sandbox1/cpu.stat":       "usage_usec 1000\n",
		statsPod + "/sandbox1/memory.current": "1000000\n",
		statsPod + "/sandbox1/memory.stat":    "inactive_file 0\n",

		statsPod + "/web1/cpu.stat":       "usage_usec 2000000\n",
		statsPod + "/web1/memory.current": "40000000\n",
		statsPod + "/web1/memory.stat":    "inactive_file 8000000\n",
	})
	n.rt = statsRuntime{
		sandboxes: []Sandbox{
			{ID: "sandbox0", PodUID: "u1", Name: "web", Namespace: "shop", State: SandboxNotReady, CreatedAt: n.started.Add(-time.Hour)},
			{ID: "sandbox1", PodUID: "u1", Name: "web", Namespace: "shop", Attempt: 1, State: SandboxReady, CreatedAt: n.started},
		},
		containers: []Container{
			{ID: "web1", SandboxID: "sandbox1", PodUID: "u1", Name: "web", State: ContainerRunning, StartedAt: n.started.Add(time.Second)},
			{ID: "init1", SandboxID: "sandbox1", PodUID: "u1", Name: "setup", State: ContainerExited, StartedAt: n.started},
			{ID: "web0", SandboxID: "sandbox0", PodUID: "u1", Name: "web", State: ContainerExited, StartedAt: n.started.Add(-time.Hour)},
		},
	}
	return n
}

func (n statsNode) collector(t *testing.T, clk *clocktesting.FakeClock) *StatsCollector {
	t.Helper()
	c, err := NewStatsCollector(StatsConfig{NodeName: "n1", Runtime: n.rt, CgroupRoot: "/kubepods", CgroupMount: n.cgroups, ProcDir: n.proc, Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestStatsSummary(t *testing.T) {
	n := newStatsNode(t)
	t0 := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	clk := clocktesting.NewFakeClock(t0)
	c := n.collector(t, clk)
	if _, err := c.Summary(t.Context()); err != nil {
		t.Fatal(err)
	}
	// Ten seconds later the node used 4 more core-seconds, the pod 1.5
	// and its container 1.
	clk.Step(10 * time.Second)
	writeTree(t, n.cgroups, map[string]string{
		"cpu.stat":                  "usage_usec 104000000\n",
		statsPod + "/cpu.stat":      "usage_usec 4500000\n",
		statsPod + "/web1/cpu.stat": "usage_usec 3000000\n",
	})
	got, err := c.Summary(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	at := metav1.NewTime(t0.Add(10 * time.Second))
	used := uint64(5_000_000 * 1024)
	nodeWS := used - 1024000000
	want := &statsapi.Summary{
		Node: statsapi.NodeStats{
			NodeName:  "n1",
			StartTime: metav1.NewTime(time.Unix(1796595454, 0)),
			CPU:       &statsapi.CPUStats{Time: at, UsageCoreNanoSeconds: u64(104e9), UsageNanoCores: u64(400_000_000)},
			Memory: &statsapi.MemoryStats{Time: at, UsageBytes: u64(used), WorkingSetBytes: u64(nodeWS),
				AvailableBytes: u64(8_000_000*1024 - nodeWS)},
		},
		Pods: []statsapi.PodStats{{
			PodRef:    statsapi.PodReference{Name: "web", Namespace: "shop", UID: "u1"},
			StartTime: metav1.NewTime(n.started),
			CPU:       &statsapi.CPUStats{Time: at, UsageCoreNanoSeconds: u64(4.5e9), UsageNanoCores: u64(150_000_000)},
			Memory:    &statsapi.MemoryStats{Time: at, UsageBytes: u64(50_000_000), WorkingSetBytes: u64(40_000_000)},
			Containers: []statsapi.ContainerStats{{
				Name:      "web",
				StartTime: metav1.NewTime(n.started.Add(time.Second)),
				CPU:       &statsapi.CPUStats{Time: at, UsageCoreNanoSeconds: u64(3e9), UsageNanoCores: u64(100_000_000)},
				Memory:    &statsapi.MemoryStats{Time: at, UsageBytes: u64(40_000_000), WorkingSetBytes: u64(32_000_000)},
			}},
		}},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("summary (-want +got):\n%s", diff)
	}

	// The pod is gone: it leaves the Summary and its readings the
	// collector.
	c.cfg.Runtime = statsRuntime{}
	got, err = c.Summary(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Pods) != 0 {
		t.Errorf("pods of a node without sandboxes: %+v", got.Pods)
	}
	if _, ok := c.rates.kept["/"+statsPod]; ok {
		t.Errorf("readings of a gone pod's cgroup are kept")
	}

	c.cfg.Runtime = statsRuntime{err: errors.New("runtime down")}
	if _, err := c.Summary(t.Context()); err == nil {
		t.Errorf("summary with the runtime down: no error")
	}
}

// failingStats is a SummaryProvider whose runtime does not answer.
type failingStats struct{}

func (failingStats) Summary(context.Context) (*statsapi.Summary, error) {
	return nil, errors.New("runtime down")
}

// sample is one Prometheus sample, as a scraper reads it.
type sample struct {
	Labels map[string]string
	Value  float64
	// Stamped says the sample carries its reading's time.
	Stamped bool
}

func TestServerResourceUsage(t *testing.T) {
	n := newStatsNode(t)
	t0 := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	clk := clocktesting.NewFakeClock(t0)
	newServer := func(stats SummaryProvider) *httptest.Server {
		s, err := NewServer(ServerConfig{NodeName: "n1", Client: fake.NewClientset(), Runtime: n.rt, LogDir: t.TempDir(), Stats: stats})
		if err != nil {
			t.Fatal(err)
		}
		srv := httptest.NewServer(s.Handler())
		t.Cleanup(srv.Close)
		return srv
	}
	get := func(url string, wantCode int) []byte {
		t.Helper()
		resp, err := http.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != wantCode {
			t.Fatalf("GET %s: %d %s, want %d", url, resp.StatusCode, b, wantCode)
		}
		return b
	}
	scrape := func(url string) map[string][]sample {
		t.Helper()
		p := expfmt.NewTextParser(model.UTF8Validation)
		fams, err := p.TextToMetricFamilies(bytes.NewReader(get(url, http.StatusOK)))
		if err != nil {
			t.Fatal(err)
		}
		out := map[string][]sample{}
		for name, f := range fams {
			for _, m := range f.GetMetric() {
				s := sample{Labels: map[string]string{}, Stamped: m.TimestampMs != nil}
				for _, l := range m.GetLabel() {
					s.Labels[l.GetName()] = l.GetValue()
				}
				switch f.GetType() {
				case dto.MetricType_COUNTER:
					s.Value = m.GetCounter().GetValue()
				case dto.MetricType_GAUGE:
					s.Value = m.GetGauge().GetValue()
				}
				out[name] = append(out[name], s)
			}
		}
		return out
	}

	srv := newServer(n.collector(t, clk))
	var sum statsapi.Summary
	if err := json.Unmarshal(get(srv.URL+"/stats/summary", http.StatusOK), &sum); err != nil {
		t.Fatal(err)
	}
	if sum.Node.NodeName != "n1" || len(sum.Pods) != 1 || sum.Pods[0].PodRef.Name != "web" || len(sum.Pods[0].Containers) != 1 {
		t.Fatalf("summary: %+v", sum)
	}
	if ws := sum.Pods[0].Containers[0].Memory.WorkingSetBytes; ws == nil || *ws != 32_000_000 {
		t.Errorf("container working set in the summary = %v, want 32000000", ws)
	}

	container := map[string]string{"container": "web", "pod": "web", "namespace": "shop"}
	pod := map[string]string{"pod": "web", "namespace": "shop"}
	none := map[string]string{}
	want := map[string][]sample{
		"node_cpu_usage_seconds_total":       {{Labels: none, Value: 100, Stamped: true}},
		"node_memory_working_set_bytes":      {{Labels: none, Value: 4_096_000_000, Stamped: true}},
		"container_cpu_usage_seconds_total":  {{Labels: container, Value: 2, Stamped: true}},
		"container_memory_working_set_bytes": {{Labels: container, Value: 32_000_000, Stamped: true}},
		"container_start_time_seconds":       {{Labels: container, Value: float64(n.started.Add(time.Second).Unix())}},
		"pod_cpu_usage_seconds_total":        {{Labels: pod, Value: 3, Stamped: true}},
		"pod_memory_working_set_bytes":       {{Labels: pod, Value: 40_000_000, Stamped: true}},
		"scrape_error":                       {{Labels: none}},
		"resource_scrape_error":              {{Labels: none}},
	}
	if diff := cmp.Diff(want, scrape(srv.URL+"/metrics/resource")); diff != "" {
		t.Errorf("resource metrics (-want +got):\n%s", diff)
	}

	// A runtime that does not answer: the scrape says so and has nothing
	// else; the summary is an error.
	failing := newServer(failingStats{})
	get(failing.URL+"/stats/summary", http.StatusInternalServerError)
	want = map[string][]sample{"scrape_error": {{Labels: none, Value: 1}}, "resource_scrape_error": {{Labels: none, Value: 1}}}
	if diff := cmp.Diff(want, scrape(failing.URL+"/metrics/resource")); diff != "" {
		t.Errorf("resource metrics of a failing node (-want +got):\n%s", diff)
	}

	// A node without a collector (simulated runtime) does not serve them.
	bare := newServer(nil)
	get(bare.URL+"/stats/summary", http.StatusNotImplemented)
	get(bare.URL+"/metrics/resource", http.StatusNotImplemented)
}

// TestStatsOnHostCgroups reads a real process's usage from this host's
// cgroups (v1 or v2), with the pod and container cgroups made as the agent
// and the runtime make them.
func TestStatsOnHostCgroups(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("making cgroups needs root")
	}
	cg := cgroupFS{mount: "/sys/fs/cgroup"}
	root := fmt.Sprintf("/skiff-stats-test-%d", os.Getpid())
	uid := types.UID("u1")
	pod := podCgroupPath(root, corev1.PodQOSGuaranteed, uid)
	container := pod + "/c1"
	if err := cg.ensure(PodCgroup{Path: pod, CPUShares: 1024}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := cg.remove(container, pod, root); err != nil {
			t.Errorf("remove test cgroups: %v", err)
		}
	})
	for _, h := range cg.hierarchies() {
		if err := mkdirCgroup(h, container); err != nil {
			t.Fatal(err)
		}
	}
	// The shell joins the container's cgroup before it fills 16 MB of
	// memory, so that they are charged there, then waits for a line.
	script := ""
	for _, h := range cg.hierarchies() {
		script += fmt.Sprintf("echo $$ > %s\n", filepath.Join(h, container, "cgroup.procs"))
	}
	script += "x=$(head -c 16000000 /dev/zero | tr '\\0' a)\necho ready\nread line\n"
	cmd := exec.Command("sh", "-c", script)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		_, _ = io.WriteString(stdin, "done\n")
		_ = stdin.Close()
		if err := cmd.Wait(); err != nil {
			t.Errorf("test process: %v", err)
		}
	}()
	if line, err := bufio.NewReader(stdout).ReadString('\n'); err != nil || line != "ready\n" {
		t.Fatalf("test process said %q, %v", line, err)
	}

	started := time.Now()
	c, err := NewStatsCollector(StatsConfig{NodeName: "n1", CgroupRoot: root, Runtime: statsRuntime{
		sandboxes:  []Sandbox{{ID: "s1", PodUID: uid, Name: "p", Namespace: "ns", State: SandboxReady, CreatedAt: started}},
		containers: []Container{{ID: "c1", SandboxID: "s1", PodUID: uid, Name: "main", State: ContainerRunning, StartedAt: started}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	sum, err := c.Summary(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if len(sum.Pods) != 1 || len(sum.Pods[0].Containers) != 1 {
		t.Fatalf("summary pods: %+v", sum.Pods)
	}
	p, ct := sum.Pods[0], sum.Pods[0].Containers[0]
	for what, m := range map[string]*statsapi.MemoryStats{"node": sum.Node.Memory, "pod": p.Memory, "container": ct.Memory} {
		if m == nil || m.WorkingSetBytes == nil || *m.WorkingSetBytes < 16_000_000 || *m.UsageBytes < *m.WorkingSetBytes {
			t.Errorf("%s memory %s: want a working set of 16 MB at least, within the usage", what, dump(m))
		}
	}
	for what, s := range map[string]*statsapi.CPUStats{"node": sum.Node.CPU, "pod": p.CPU, "container": ct.CPU} {
		if s == nil || s.UsageCoreNanoSeconds == nil || *s.UsageCoreNanoSeconds == 0 {
			t.Errorf("%s cpu %s: want some cpu time used", what, dump(s))
		}
	}
	if *p.CPU.UsageCoreNanoSeconds < *ct.CPU.UsageCoreNanoSeconds {
		t.Errorf("pod cpu %d below its container's %d", *p.CPU.UsageCoreNanoSeconds, *ct.CPU.UsageCoreNanoSeconds)
	}
	if sum.Node.StartTime.IsZero() || !sum.Node.StartTime.Before(&metav1.Time{Time: started}) {
		t.Errorf("node start time %v, want the host's boot", sum.Node.StartTime)
	}
}

// TestStatsRunKeepsReadings checks that a request gets a cpu rate at once
// when Run has been reading in the background.
func TestStatsRunKeepsReadings(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := newStatsNode(t)
		c, err := NewStatsCollector(StatsConfig{NodeName: "n1", Runtime: n.rt, CgroupRoot: "/kubepods", CgroupMount: n.cgroups, ProcDir: n.proc})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error)
		go func() { done <- c.Run(ctx) }()
		synctest.Wait() // the first reading
		writeTree(t, n.cgroups, map[string]string{statsPod + "/web1/cpu.stat": "usage_usec 7000000\n"})
		time.Sleep(DefaultStatsInterval)
		synctest.Wait() // the second one
		sum, err := c.Summary(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		// 5 core-seconds over the 10 s between Run's readings.
		if diff := cmp.Diff(u64(500_000_000), sum.Pods[0].Containers[0].CPU.UsageNanoCores); diff != "" {
			t.Errorf("container usageNanoCores (-want +got):\n%s", diff)
		}
		cancel()
		if err := <-done; err != nil {
			t.Errorf("run: %v", err)
		}
	})
}
