package agent

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"k8s.io/client-go/kubernetes/fake"
	clocktesting "k8s.io/utils/clock/testing"
)

// promSample is one sample of a scrape: its family's type, labels, value
// and timestamp (0: none).
type promSample struct {
	Type   dto.MetricType
	Labels map[string]string
	Value  float64
	TimeMs int64
}

// scrapeText parses a Prometheus text exposition into samples by name.
func scrapeText(t *testing.T, body []byte) map[string][]promSample {
	t.Helper()
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(bytes.NewReader(body))
	if err != nil {
		t.Fatalf("parse exposition: %v\n%s", err, body)
	}
	out := map[string][]promSample{}
	for name, f := range fams {
		if f.GetHelp() == "" {
			t.Errorf("%s has no HELP", name)
		}
		for _, m := range f.GetMetric() {
			s := promSample{Type: f.GetType(), Labels: map[string]string{}, TimeMs: m.GetTimestampMs()}
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

func getBody(t *testing.T, url string, wantCode int) []byte {
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

// failingCgroups is a CgroupStatsProvider whose runtime does not answer.
type failingCgroups struct{}

func (failingCgroups) CgroupStats(context.Context) (*CgroupStats, error) {
	return nil, errors.New("runtime down")
}

func TestServerCadvisorMetrics(t *testing.T) {
	t0 := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	stamp := t0.UnixMilli()
	const gauge, counter = dto.MetricType_GAUGE, dto.MetricType_COUNTER

	// The node of the stats tests (cgroup v2), with settings on the pod's
	// and the container's cgroups, rss and cache, and a machine.
	v2 := newStatsNode(t)
	writeTree(t, v2.proc, map[string]string{
		"cpuinfo":                   "processor\t: 0\nmodel name\t: x\n\nprocessor\t: 1\nmodel name\t: x\n\nprocessor\t: 2\n\nprocessor\t: 3\n",
		"sys/kernel/random/boot_id": "b00t\n",
	})
	writeTree(t, v2.cgroups, map[string]string{
		"machine-id": "m1\n",
		// 100m requested, 500m limit, 64 MiB.
		statsPod + "/cpu.weight":       "4\n",
		statsPod + "/cpu.max":          "50000 100000\n",
		statsPod + "/memory.max":       "67108864\n",
		statsPod + "/memory.stat":      "anon 30000000\nfile 15000000\ninactive_file 10000000\n",
		statsPod + "/web1/cpu.weight":  "4\n",
		statsPod + "/web1/cpu.max":     "max 100000\n",
		statsPod + "/web1/memory.max":  "max\n",
		statsPod + "/web1/memory.stat": "anon 25000000\nfile 12000000\ninactive_file 8000000\n",
	})
	v2.rt.containers[0].Image = "example.com/web:1"

	// The same pod on cgroup v1, without the sandbox's cgroup.
	v1 := statsNode{cgroups: t.TempDir(), proc: v2.proc, rt: v2.rt, started: v2.started}
	v1pod := "kubepods/burstable/podu1"
	writeTree(t, v1.cgroups, map[string]string{
		"machine-id":                                      "m1\n",
		"cpuacct/cpuacct.usage":                           "100000000000\n",
		"memory/memory.usage_in_bytes":                    "6000000000\n",
		"memory/memory.stat":                              "total_inactive_file 1000000000\ntotal_rss 3000000000\ntotal_cache 2500000000\n",
		"memory/memory.limit_in_bytes":                    "9223372036854771712\n",
		"cpu/cpu.shares":                                  "1024\n",
		"cpu/cpu.cfs_quota_us":                            "-1\n",
		"cpu/cpu.cfs_period_us":                           "100000\n",
		"cpuacct/" + v1pod + "/cpuacct.usage":             "3000000000\n",
		"memory/" + v1pod + "/memory.usage_in_bytes":      "50000000\n",
		"memory/" + v1pod + "/memory.stat":                "total_inactive_file 10000000\ntotal_rss 30000000\ntotal_cache 15000000\n",
		"memory/" + v1pod + "/memory.limit_in_bytes":      "67108864\n",
		"cpu/" + v1pod + "/cpu.shares":                    "102\n",
		"cpu/" + v1pod + "/cpu.cfs_quota_us":              "50000\n",
		"cpu/" + v1pod + "/cpu.cfs_period_us":             "100000\n",
		"cpuacct/" + v1pod + "/web1/cpuacct.usage":        "2000000000\n",
		"memory/" + v1pod + "/web1/memory.usage_in_bytes": "40000000\n",
		"memory/" + v1pod + "/web1/memory.stat":           "total_inactive_file 8000000\ntotal_rss 25000000\ntotal_cache 12000000\n",
	})

	root := map[string]string{"container": "", "id": "/", "image": "", "name": "", "namespace": "", "pod": ""}
	pod := map[string]string{"container": "", "id": "/" + statsPod, "image": "", "name": "", "namespace": "shop", "pod": "web"}
	sandbox := map[string]string{"container": "POD", "id": "/" + statsPod + "/sandbox1", "image": "", "name": "sandbox1", "namespace": "shop", "pod": "web"}
	web := map[string]string{"container": "web", "id": "/" + statsPod + "/web1", "image": "example.com/web:1", "name": "web1", "namespace": "shop", "pod": "web"}
	withCPU := func(l map[string]string) map[string]string {
		out := map[string]string{"cpu": "total"}
		for k, v := range l {
			out[k] = v
		}
		return out
	}
	machine := map[string]string{"boot_id": "b00t", "machine_id": "m1", "system_uuid": ""}
	started := func(t time.Time) float64 { return float64(t.Unix()) }
	last := float64(t0.Unix())
	// 5,000,000 kB in use of 8,000,000 kB on the v2 root, 1,024,000,000
	// bytes of it inactive file cache.
	rootUsed, rootWS := 5_000_000*1024.0, 5_000_000*1024.0-1_024_000_000

	tests := []struct {
		name string
		node statsNode
		want map[string][]promSample
	}{{
		name: "v2",
		node: v2,
		want: map[string][]promSample{
			"container_cpu_usage_seconds_total": {
				{counter, withCPU(root), 100, stamp}, {counter, withCPU(pod), 3, stamp},
				{counter, withCPU(sandbox), 0.001, stamp}, {counter, withCPU(web), 2, stamp}},
			"container_memory_usage_bytes": {
				{gauge, root, rootUsed, stamp}, {gauge, pod, 50_000_000, stamp}, {gauge, sandbox, 1_000_000, stamp}, {gauge, web, 40_000_000, stamp}},
			"container_memory_working_set_bytes": {
				{gauge, root, rootWS, stamp}, {gauge, pod, 40_000_000, stamp}, {gauge, sandbox, 1_000_000, stamp}, {gauge, web, 32_000_000, stamp}},
			"container_memory_rss":   {{gauge, pod, 30_000_000, stamp}, {gauge, web, 25_000_000, stamp}},
			"container_memory_cache": {{gauge, pod, 15_000_000, stamp}, {gauge, web, 12_000_000, stamp}},
			"container_last_seen": {
				{gauge, root, last, stamp}, {gauge, pod, last, stamp}, {gauge, sandbox, last, stamp}, {gauge, web, last, stamp}},
			"container_start_time_seconds": {
				{gauge, root, 1796595454, 0}, {gauge, pod, started(v2.started), 0},
				{gauge, sandbox, started(v2.started), 0}, {gauge, web, started(v2.started.Add(time.Second)), 0}},
			// cpu.weight 4 (written for 102 shares, a tenth of a cpu)
			// reads back as 2+(4-1)*262142/9999 = 80 shares.
			"container_spec_cpu_shares":         {{gauge, pod, 80, 0}, {gauge, web, 80, 0}},
			"container_spec_cpu_period":         {{gauge, pod, 100_000, 0}, {gauge, web, 100_000, 0}},
			"container_spec_cpu_quota":          {{gauge, pod, 50_000, 0}},
			"container_spec_memory_limit_bytes": {{gauge, pod, 67108864, 0}, {gauge, web, 0, 0}},
			"machine_cpu_cores":                 {{gauge, machine, 4, 0}},
			"machine_memory_bytes":              {{gauge, machine, 8_000_000 * 1024, 0}},
			"container_scrape_error":            {{gauge, map[string]string{}, 0, 0}},
		},
	}, {
		name: "v1",
		node: v1,
		want: map[string][]promSample{
			"container_cpu_usage_seconds_total": {{counter, withCPU(root), 100, stamp}, {counter, withCPU(pod), 3, stamp}, {counter, withCPU(web), 2, stamp}},
			"container_memory_usage_bytes":      {{gauge, root, 6e9, stamp}, {gauge, pod, 50_000_000, stamp}, {gauge, web, 40_000_000, stamp}},
			"container_memory_working_set_bytes": {
				{gauge, root, 5e9, stamp}, {gauge, pod, 40_000_000, stamp}, {gauge, web, 32_000_000, stamp}},
			"container_memory_rss":   {{gauge, root, 3e9, stamp}, {gauge, pod, 30_000_000, stamp}, {gauge, web, 25_000_000, stamp}},
			"container_memory_cache": {{gauge, root, 2.5e9, stamp}, {gauge, pod, 15_000_000, stamp}, {gauge, web, 12_000_000, stamp}},
			"container_last_seen":    {{gauge, root, last, stamp}, {gauge, pod, last, stamp}, {gauge, web, last, stamp}},
			"container_start_time_seconds": {
				{gauge, root, 1796595454, 0}, {gauge, pod, started(v2.started), 0}, {gauge, web, started(v2.started.Add(time.Second)), 0}},
			"container_spec_cpu_shares":         {{gauge, root, 1024, 0}, {gauge, pod, 102, 0}},
			"container_spec_cpu_period":         {{gauge, root, 100_000, 0}, {gauge, pod, 100_000, 0}},
			"container_spec_cpu_quota":          {{gauge, pod, 50_000, 0}},
			"container_spec_memory_limit_bytes": {{gauge, root, 0, 0}, {gauge, pod, 67108864, 0}},
			"machine_cpu_cores":                 {{gauge, machine, 4, 0}},
			"machine_memory_bytes":              {{gauge, machine, 8_000_000 * 1024, 0}},
			"container_scrape_error":            {{gauge, map[string]string{}, 0, 0}},
		},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := NewStatsCollector(StatsConfig{NodeName: "n1", Runtime: tt.node.rt, CgroupRoot: "/kubepods", CgroupMount: tt.node.cgroups,
				ProcDir: tt.node.proc, MachineIDFile: filepath.Join(tt.node.cgroups, "machine-id"), Clock: clocktesting.NewFakeClock(t0)})
			if err != nil {
				t.Fatal(err)
			}
			s, err := NewServer(ServerConfig{NodeName: "n1", Client: fake.NewClientset(), Runtime: tt.node.rt, LogDir: t.TempDir(), Cgroups: c})
			if err != nil {
				t.Fatal(err)
			}
			srv := httptest.NewServer(s.Handler())
			defer srv.Close()
			if diff := cmp.Diff(tt.want, scrapeText(t, getBody(t, srv.URL+"/metrics/cadvisor", http.StatusOK))); diff != "" {
				t.Errorf("cadvisor metrics (-want +got):\n%s", diff)
			}
		})
	}

	t.Run("two ready sandboxes", func(t *testing.T) {
		// A pod's new sandbox is ready before the old one is gone: the
		// pod's cgroup is served once, each sandbox's under its own ID.
		rt := v2.rt
		rt.sandboxes = append(slices.Clone(rt.sandboxes), Sandbox{ID: "sandbox2", PodUID: "u1", Name: "web", Namespace: "shop", Attempt: 2, State: SandboxReady, CreatedAt: v2.started})
		c, err := NewStatsCollector(StatsConfig{NodeName: "n1", Runtime: rt, CgroupRoot: "/kubepods", CgroupMount: v2.cgroups, ProcDir: v2.proc, Clock: clocktesting.NewFakeClock(t0)})
		if err != nil {
			t.Fatal(err)
		}
		s, err := NewServer(ServerConfig{NodeName: "n1", Client: fake.NewClientset(), Runtime: rt, LogDir: t.TempDir(), Cgroups: c})
		if err != nil {
			t.Fatal(err)
		}
		srv := httptest.NewServer(s.Handler())
		defer srv.Close()
		var ids []string
		for _, smp := range scrapeText(t, getBody(t, srv.URL+"/metrics/cadvisor", http.StatusOK))["container_last_seen"] {
			ids = append(ids, smp.Labels["id"])
		}
		want := []string{"/", "/" + statsPod, "/" + statsPod + "/sandbox1", "/" + statsPod + "/web1"}
		if diff := cmp.Diff(want, ids); diff != "" {
			t.Errorf("cgroups served (-want +got):\n%s", diff)
		}
	})

	t.Run("failing runtime", func(t *testing.T) {
		s, err := NewServer(ServerConfig{NodeName: "n1", Client: fake.NewClientset(), Runtime: v2.rt, LogDir: t.TempDir(), Cgroups: failingCgroups{}})
		if err != nil {
			t.Fatal(err)
		}
		srv := httptest.NewServer(s.Handler())
		defer srv.Close()
		want := map[string][]promSample{"container_scrape_error": {{gauge, map[string]string{}, 1, 0}}}
		if diff := cmp.Diff(want, scrapeText(t, getBody(t, srv.URL+"/metrics/cadvisor", http.StatusOK))); diff != "" {
			t.Errorf("cadvisor metrics of a failing node (-want +got):\n%s", diff)
		}
	})

	t.Run("no collector", func(t *testing.T) {
		s, err := NewServer(ServerConfig{NodeName: "n1", Client: fake.NewClientset(), Runtime: v2.rt, LogDir: t.TempDir()})
		if err != nil {
			t.Fatal(err)
		}
		srv := httptest.NewServer(s.Handler())
		defer srv.Close()
		getBody(t, srv.URL+"/metrics/cadvisor", http.StatusNotImplemented)
	})
}
