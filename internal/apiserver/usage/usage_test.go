package usage

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	statsv1alpha1 "k8s.io/kubelet/pkg/apis/stats/v1alpha1"
)

var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

func TestRate(t *testing.T) {
	start := t0.Add(-time.Hour)
	tests := []struct {
		name      string
		prev, cur Point
		want      Usage
		ok        bool
	}{
		{
			name: "quarter of a core over 15s",
			prev: Point{Time: t0, Start: start, CPU: 1_000_000_000},
			cur:  Point{Time: t0.Add(15 * time.Second), Start: start, CPU: 1_000_000_000 + 3_750_000_000, Memory: 5 << 20},
			want: Usage{Timestamp: t0.Add(15 * time.Second), Window: 15 * time.Second, NanoCores: 250_000_000, MemoryBytes: 5 << 20},
			ok:   true,
		},
		{
			name: "idle",
			prev: Point{Time: t0, CPU: 7},
			cur:  Point{Time: t0.Add(time.Second), CPU: 7, Memory: 1},
			want: Usage{Timestamp: t0.Add(time.Second), Window: time.Second, MemoryBytes: 1},
			ok:   true,
		},
		{
			name: "large counters do not overflow",
			prev: Point{Time: t0, CPU: 0},
			cur:  Point{Time: t0.Add(100 * time.Second), CPU: 1600 * 1_000_000_000},
			want: Usage{Timestamp: t0.Add(100 * time.Second), Window: 100 * time.Second, NanoCores: 16_000_000_000},
			ok:   true,
		},
		{
			name: "counter went back",
			prev: Point{Time: t0, CPU: 2_000_000_000},
			cur:  Point{Time: t0.Add(15 * time.Second), CPU: 1_000_000_000},
		},
		{
			name: "container restarted",
			prev: Point{Time: t0, Start: start, CPU: 1},
			cur:  Point{Time: t0.Add(15 * time.Second), Start: t0.Add(10 * time.Second), CPU: 5},
		},
		{
			name: "same reading twice",
			prev: Point{Time: t0, CPU: 1},
			cur:  Point{Time: t0, CPU: 1},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := Rate(tt.prev, tt.cur)
			if ok != tt.ok {
				t.Fatalf("Rate ok = %v, want %v", ok, tt.ok)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Rate (-want +got):\n%s", diff)
			}
		})
	}
}

// summary builds a node Summary read at `at`, with one pod "default/web"
// whose containers have the given cumulative CPU (core-nanoseconds).
func summary(at time.Time, nodeCPU uint64, containers map[string]uint64, started time.Time) *statsv1alpha1.Summary {
	u := func(v uint64) *uint64 { return &v }
	ts := metav1.NewTime(at)
	sum := &statsv1alpha1.Summary{Node: statsv1alpha1.NodeStats{NodeName: "n1",
		CPU:    &statsv1alpha1.CPUStats{Time: ts, UsageCoreNanoSeconds: u(nodeCPU)},
		Memory: &statsv1alpha1.MemoryStats{Time: ts, WorkingSetBytes: u(1 << 30)}}}
	pod := statsv1alpha1.PodStats{PodRef: statsv1alpha1.PodReference{Namespace: "default", Name: "web"}}
	for name, cpu := range containers {
		pod.Containers = append(pod.Containers, statsv1alpha1.ContainerStats{Name: name, StartTime: metav1.NewTime(started),
			CPU:    &statsv1alpha1.CPUStats{Time: ts, UsageCoreNanoSeconds: u(cpu)},
			Memory: &statsv1alpha1.MemoryStats{Time: ts, WorkingSetBytes: u(10 << 20)}})
	}
	sum.Pods = []statsv1alpha1.PodStats{pod}
	return sum
}

func TestStore(t *testing.T) {
	s := NewStore()
	started := t0.Add(-time.Minute)
	s.Update("n1", summary(t0, 10_000_000_000, map[string]uint64{"app": 1_000_000_000, "sidecar": 0}, started))
	if _, ok := s.Node("n1"); ok {
		t.Fatal("a node has a usage after one scrape")
	}
	if _, ok := s.Pod("default", "web"); ok {
		t.Fatal("a pod has a usage after one scrape")
	}

	t1 := t0.Add(10 * time.Second)
	s.Update("n1", summary(t1, 30_000_000_000, map[string]uint64{"app": 6_000_000_000, "sidecar": 1_000_000_000}, started))
	node, ok := s.Node("n1")
	if !ok {
		t.Fatal("no node usage after two scrapes")
	}
	if diff := cmp.Diff(Usage{Timestamp: t1, Window: 10 * time.Second, NanoCores: 2_000_000_000, MemoryBytes: 1 << 30}, node); diff != "" {
		t.Errorf("node usage (-want +got):\n%s", diff)
	}
	pod, ok := s.Pod("default", "web")
	if !ok {
		t.Fatal("no pod usage after two scrapes")
	}
	want := PodUsage{Timestamp: t1, Window: 10 * time.Second, Containers: []ContainerUsage{
		{Name: "app", Usage: Usage{Timestamp: t1, Window: 10 * time.Second, NanoCores: 500_000_000, MemoryBytes: 10 << 20}},
		{Name: "sidecar", Usage: Usage{Timestamp: t1, Window: 10 * time.Second, NanoCores: 100_000_000, MemoryBytes: 10 << 20}},
	}}
	if diff := cmp.Diff(want, pod); diff != "" {
		t.Errorf("pod usage (-want +got):\n%s", diff)
	}

	// Both containers restart: their counters start again, and the pod
	// has no usage until the next scrape.
	t2 := t1.Add(10 * time.Second)
	s.Update("n1", summary(t2, 40_000_000_000, map[string]uint64{"app": 100, "sidecar": 2_000_000_000}, t2.Add(-time.Second)))
	if pod, ok = s.Pod("default", "web"); ok {
		t.Errorf("pod usage with every container restarted: %+v", pod)
	}
	t3 := t2.Add(10 * time.Second)
	s.Update("n1", summary(t3, 50_000_000_000, map[string]uint64{"app": 1_000_000_100, "sidecar": 3_000_000_000}, t2.Add(-time.Second)))
	if pod, ok = s.Pod("default", "web"); !ok || len(pod.Containers) != 2 || pod.Containers[0].NanoCores != 100_000_000 {
		t.Errorf("pod usage after the restart settled = %+v, %v; want app at 100m", pod, ok)
	}

	s.Retain(nil)
	if _, ok := s.Node("n1"); ok {
		t.Error("a node not retained still has a usage")
	}
	if _, ok := s.Pod("default", "web"); ok {
		t.Error("a pod of a node not retained still has a usage")
	}
}

// TestStorePodMoves checks that a pod is found on the node that last
// reported it: gone from one node, it has no usage until another reports
// it twice (a StatefulSet's pod comes back under the same name).
func TestStorePodMoves(t *testing.T) {
	s := NewStore()
	started := t0.Add(-time.Minute)
	t1 := t0.Add(10 * time.Second)
	s.Update("n1", summary(t0, 0, map[string]uint64{"app": 0}, started))
	s.Update("n1", summary(t1, 0, map[string]uint64{"app": 1_000_000_000}, started))
	if pod, ok := s.Pod("default", "web"); !ok || pod.Containers[0].NanoCores != 100_000_000 {
		t.Fatalf("pod usage on n1 = %+v, %v; want 100m", pod, ok)
	}

	t2 := t1.Add(10 * time.Second)
	gone := summary(t2, 0, nil, started)
	gone.Pods = nil
	s.Update("n1", gone)
	if pod, ok := s.Pod("default", "web"); ok {
		t.Errorf("pod gone from n1 still has a usage: %+v", pod)
	}

	s.Update("n2", summary(t2, 0, map[string]uint64{"app": 0}, t2))
	if pod, ok := s.Pod("default", "web"); ok {
		t.Errorf("pod read once on n2 has a usage: %+v", pod)
	}
	t3 := t2.Add(10 * time.Second)
	s.Update("n2", summary(t3, 0, map[string]uint64{"app": 3_000_000_000}, t2))
	if pod, ok := s.Pod("default", "web"); !ok || pod.Containers[0].NanoCores != 300_000_000 {
		t.Errorf("pod usage on n2 = %+v, %v; want 300m", pod, ok)
	}
}
