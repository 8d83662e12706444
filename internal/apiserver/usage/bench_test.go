package usage

import (
	"bytes"
	"encoding/json"
	"fmt"
	"runtime"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	statsv1alpha1 "k8s.io/kubelet/pkg/apis/stats/v1alpha1"

	"skiff/internal/bench"
)

// nodeSummary is the Summary of a node of pods pods of two containers
// read at `at`, with every figure an agent reports, the cumulative cpu
// counters grown with the time.
func nodeSummary(at time.Time, pods int) *statsv1alpha1.Summary {
	u := func(v uint64) *uint64 { return &v }
	ts := metav1.NewTime(at)
	started := metav1.NewTime(t0.Add(-time.Hour))
	grown := uint64(at.Sub(t0))
	cpu := func(base uint64) *statsv1alpha1.CPUStats {
		return &statsv1alpha1.CPUStats{Time: ts, UsageNanoCores: u(base / 100), UsageCoreNanoSeconds: u(base + grown/10)}
	}
	mem := func(base uint64) *statsv1alpha1.MemoryStats {
		return &statsv1alpha1.MemoryStats{Time: ts, UsageBytes: u(base), WorkingSetBytes: u(base * 3 / 4), RSSBytes: u(base / 2),
			PageFaults: u(1000), MajorPageFaults: u(3), AvailableBytes: u(64 << 20)}
	}
	sum := &statsv1alpha1.Summary{Node: statsv1alpha1.NodeStats{NodeName: "n1", StartTime: started, CPU: cpu(1 << 40), Memory: mem(3 << 30)}}
	for i := range pods {
		pod := statsv1alpha1.PodStats{
			PodRef:    statsv1alpha1.PodReference{Namespace: "shop", Name: fmt.Sprintf("web-%03d", i), UID: fmt.Sprintf("uid-%03d", i)},
			StartTime: started, CPU: cpu(uint64(2e9 + i)), Memory: mem(uint64(100<<20 + i)),
		}
		for _, name := range []string{"app", "sidecar"} {
			pod.Containers = append(pod.Containers, statsv1alpha1.ContainerStats{Name: name, StartTime: started,
				CPU: cpu(uint64(1e9 + i)), Memory: mem(uint64(50<<20 + i))})
		}
		sum.Pods = append(sum.Pods, pod)
	}
	return sum
}

// BenchmarkStore measures the API server's side of the metrics pipeline
// for a node of 100 pods of two containers: decoding the Summary JSON an
// agent serves and keeping it in the Store that answers metrics.k8s.io.
// Each op is one scrape, 10 s after the one before. Reported: cpu time
// per scrape (cpu-ns/scrape), the body, and the heap the Store keeps
// after all scrapes, collected garbage excluded (live-B: objects,
// inuse-B: their spans), against what was in use before it existed.
func BenchmarkStore(b *testing.B) {
	const pods = 100
	// The bodies, made before the clock starts; after the eighth the first
	// comes again, its counters gone back as a restarted node's.
	bodies := make([][]byte, 8)
	for i := range bodies {
		var err error
		if bodies[i], err = json.Marshal(nodeSummary(t0.Add(time.Duration(i+1)*10*time.Second), pods)); err != nil {
			b.Fatal(err)
		}
	}
	alloc0, inuse0 := bench.LiveHeap()
	store := NewStore()
	b.ReportAllocs()
	b.ResetTimer()
	cpu0, err := bench.CPUTime()
	if err != nil {
		b.Fatal(err)
	}
	for i := range b.N {
		var sum statsv1alpha1.Summary
		if err := json.NewDecoder(bytes.NewReader(bodies[i%len(bodies)])).Decode(&sum); err != nil {
			b.Fatal(err)
		}
		store.Update("n1", &sum)
	}
	cpu1, err := bench.CPUTime()
	if err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	alloc, inuse := bench.LiveHeap()
	if _, ok := store.Pod("shop", "web-000"); !ok && b.N > 1 {
		b.Fatal("the store has no usage of shop/web-000")
	}
	b.ReportMetric(float64((cpu1-cpu0).Nanoseconds())/float64(b.N), "cpu-ns/scrape")
	b.ReportMetric(float64(len(bodies[0])), "body-B")
	b.ReportMetric(float64(alloc-alloc0), "live-B")
	b.ReportMetric(float64(inuse-inuse0), "inuse-B")
	runtime.KeepAlive(store)
}
