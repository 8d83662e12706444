package agent

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"runtime"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/fake"
	clocktesting "k8s.io/utils/clock/testing"

	"skiff/internal/bench"
)

// benchNode is a cgroup v2 node with pods of two containers each, every
// cgroup with the counters and settings the agent reads.
func benchNode(b *testing.B, pods int) statsNode {
	n := statsNode{cgroups: b.TempDir(), proc: b.TempDir(), started: time.Date(2026, 12, 7, 11, 0, 0, 0, time.UTC)}
	files := map[string]string{
		"cgroup.controllers": "cpu memory pids\n",
		"cpu.stat":           "usage_usec 100000000\n",
		"memory.stat":        "anon 2000000000\nfile 1000000000\ninactive_file 500000000\n",
	}
	cgroup := func(p string, i int) {
		files[p+"/cpu.stat"] = fmt.Sprintf("usage_usec %d\nuser_usec 1\nsystem_usec 1\n", 1000000+i)
		files[p+"/memory.current"] = fmt.Sprintf("%d\n", 50000000+i)
		files[p+"/memory.stat"] = "anon 30000000\nfile 15000000\nactive_file 5000000\ninactive_file 10000000\nshmem 0\n"
		files[p+"/cpu.weight"] = "4\n"
		files[p+"/cpu.max"] = "50000 100000\n"
		files[p+"/memory.max"] = "67108864\n"
	}
	for i := range pods {
		uid := types.UID(fmt.Sprintf("uid-%03d", i))
		pod := "kubepods/burstable/pod" + string(uid)
		cgroup(pod, i)
		sb := fmt.Sprintf("sandbox-%03d", i)
		cgroup(pod+"/"+sb, i)
		n.rt.sandboxes = append(n.rt.sandboxes, Sandbox{ID: sb, PodUID: uid, Name: fmt.Sprintf("web-%03d", i), Namespace: "shop", State: SandboxReady, CreatedAt: n.started})
		for _, name := range []string{"app", "sidecar"} {
			id := fmt.Sprintf("%s-%03d", name, i)
			cgroup(pod+"/"+id, i)
			n.rt.containers = append(n.rt.containers, Container{ID: id, SandboxID: sb, PodUID: uid, Name: name, Image: "example.com/" + name + ":1",
				State: ContainerRunning, StartedAt: n.started.Add(time.Second)})
		}
	}
	writeTree(b, n.cgroups, files)
	writeTree(b, n.proc, map[string]string{
		"meminfo": "MemTotal:       8000000 kB\nMemFree:        3000000 kB\nInactive(file):  999 kB\n",
		"stat":    "cpu  1 2 3 4\nbtime 1796595454\n",
		"cpuinfo": "processor\t: 0\n\nprocessor\t: 1\n",
	})
	return n
}

// discard is a ResponseWriter that counts and drops the body.
type discard struct {
	h http.Header
	n int
}

func (d *discard) Header() http.Header         { return d.h }
func (d *discard) WriteHeader(int)             {}
func (d *discard) Write(p []byte) (int, error) { d.n += len(p); return len(p), nil }

// BenchmarkMetricsPipeline measures, for a node of 100 pods of two
// containers, what each scrape of the agent's side of the metrics
// pipeline costs: /stats/summary (what the API server reads),
// /metrics/resource and /metrics/cadvisor (what a Prometheus reads), read
// from the cgroup files. The API server's side is BenchmarkStore in
// apiserver/usage. Each op is one scrape 10 s after the one before.
// Reported per scrape: cpu time (cpu-ns/scrape, user and system, against
// ns/op of wall time) and the body served; after all scrapes, the heap
// they left in use, collected garbage excluded (live-B: objects, inuse-B:
// their spans), against what was in use before the collector existed.
func BenchmarkMetricsPipeline(b *testing.B) {
	const pods = 100
	n := benchNode(b, pods)
	t0 := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	for _, path := range []string{"/stats/summary", "/metrics/resource", "/metrics/cadvisor"} {
		b.Run("agent"+path, func(b *testing.B) {
			client, logDir := fake.NewClientset(), b.TempDir()
			alloc0, inuse0 := bench.LiveHeap()
			clk := clocktesting.NewFakeClock(t0)
			c, err := NewStatsCollector(StatsConfig{NodeName: "n1", Runtime: n.rt, CgroupRoot: "/kubepods", CgroupMount: n.cgroups, ProcDir: n.proc, Clock: clk})
			if err != nil {
				b.Fatal(err)
			}
			s, err := NewServer(ServerConfig{NodeName: "n1", Client: client, Runtime: n.rt, LogDir: logDir, Stats: c, Cgroups: c})
			if err != nil {
				b.Fatal(err)
			}
			h := s.Handler()
			req := httptest.NewRequest(http.MethodGet, path, nil)
			w := &discard{h: http.Header{}}
			b.ReportAllocs()
			b.ResetTimer()
			cpu0 := cpuTime(b)
			for range b.N {
				clk.Step(10 * time.Second)
				w.n = 0
				h.ServeHTTP(w, req)
			}
			cpu := cpuTime(b) - cpu0
			b.StopTimer()
			alloc, inuse := bench.LiveHeap()
			b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N), "cpu-ns/scrape")
			b.ReportMetric(float64(w.n), "body-B")
			b.ReportMetric(float64(alloc-alloc0), "live-B")
			b.ReportMetric(float64(inuse-inuse0), "inuse-B")
			runtime.KeepAlive(s)
		})
	}
}

// cpuTime is the process's cpu time so far.
func cpuTime(b *testing.B) time.Duration {
	d, err := bench.CPUTime()
	if err != nil {
		b.Fatal(err)
	}
	return d
}
