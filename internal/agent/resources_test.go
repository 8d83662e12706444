package agent

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

// withResources sets requests and limits ("cpu=250m,memory=64Mi" style
// pairs) on the named container.
func withResources(pod *corev1.Pod, name string, req, lim corev1.ResourceList) *corev1.Pod {
	for i := range pod.Spec.Containers {
		if pod.Spec.Containers[i].Name == name {
			pod.Spec.Containers[i].Resources = corev1.ResourceRequirements{Requests: req, Limits: lim}
		}
	}
	for i := range pod.Spec.InitContainers {
		if pod.Spec.InitContainers[i].Name == name {
			pod.Spec.InitContainers[i].Resources = corev1.ResourceRequirements{Requests: req, Limits: lim}
		}
	}
	return pod
}

func rl(cpu, mem string) corev1.ResourceList {
	l := corev1.ResourceList{}
	if cpu != "" {
		l[corev1.ResourceCPU] = resource.MustParse(cpu)
	}
	if mem != "" {
		l[corev1.ResourceMemory] = resource.MustParse(mem)
	}
	return l
}

func TestContainerResources(t *testing.T) {
	const capacity = 8 << 30
	tests := []struct {
		name     string
		req, lim corev1.ResourceList
		want     ContainerResources
	}{
		{
			name: "best effort: minimum shares, no limits, highest OOM score",
			want: ContainerResources{CPUShares: 2, CPUPeriod: 100000, OOMScoreAdj: 1000},
		},
		{
			name: "guaranteed: shares, quota and memory limit; OOM score clamped to 0",
			req:  rl("500m", "128Mi"), lim: rl("500m", "128Mi"),
			want: ContainerResources{CPUShares: 512, CPUQuota: 50000, CPUPeriod: 100000, MemoryLimit: 128 << 20, OOMScoreAdj: 0},
		},
		{
			name: "burstable: OOM score falls with the memory request",
			req:  rl("100m", "2Gi"), lim: rl("", "4Gi"),
			want: ContainerResources{CPUShares: 102, CPUPeriod: 100000, MemoryLimit: 4 << 30, OOMScoreAdj: 750},
		},
		{
			name: "cpu limit alone gives shares too",
			lim:  rl("2", ""),
			want: ContainerResources{CPUShares: 2048, CPUQuota: 200000, CPUPeriod: 100000, OOMScoreAdj: 999},
		},
		{
			name: "tiny limit gets the minimum quota",
			req:  rl("1m", ""), lim: rl("1m", "1Gi"),
			want: ContainerResources{CPUShares: 2, CPUQuota: 1000, CPUPeriod: 100000, MemoryLimit: 1 << 30, OOMScoreAdj: 0},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pod := withResources(testPod("p").containers("c").obj(), "c", tt.req, tt.lim)
			got := containerResources(pod, &pod.Spec.Containers[0], capacity)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("containerResources (-want +got):\n%s", diff)
			}
		})
	}
}

func TestOOMScoreAdjBurstableBounds(t *testing.T) {
	pod := withResources(testPod("p").containers("c").obj(), "c", rl("", "8Gi"), rl("1", ""))
	if got := oomScoreAdj(pod, &pod.Spec.Containers[0], 8<<30); got != 3 {
		t.Errorf("burstable container requesting all memory: oom_score_adj %d, want 3 (just above Guaranteed)", got)
	}
	pod = withResources(testPod("p").containers("c").obj(), "c", nil, rl("1", "1Gi"))
	if got := oomScoreAdj(pod, &pod.Spec.Containers[0], 8<<30); got != -997 {
		t.Errorf("guaranteed pod: oom_score_adj %d, want upstream's -997 before clamping", got)
	}
}

func TestPodCgroup(t *testing.T) {
	tests := []struct {
		name string
		pod  *corev1.Pod
		want PodCgroup
	}{
		{
			name: "best effort",
			pod:  testPod("p").containers("a", "b").obj(),
			want: PodCgroup{Path: "/kubepods/besteffort/poduid-p", CPUShares: 2},
		},
		{
			name: "guaranteed sits under the root with all limits",
			pod: withResources(withResources(testPod("p").containers("a", "b").obj(),
				"a", rl("250m", "64Mi"), rl("250m", "64Mi")), "b", rl("750m", "64Mi"), rl("750m", "64Mi")),
			want: PodCgroup{Path: "/kubepods/poduid-p", CPUShares: 1024, CPUQuota: 100000, CPUPeriod: 100000, MemoryLimit: 128 << 20},
		},
		{
			name: "burstable: memory limit only when every container has one",
			pod: withResources(withResources(testPod("p").containers("a", "b").obj(),
				"a", rl("100m", "64Mi"), rl("", "64Mi")), "b", rl("100m", ""), rl("1", "")),
			want: PodCgroup{Path: "/kubepods/burstable/poduid-p", CPUShares: 204},
		},
		{
			name: "an init container larger than the rest sets the pod's limits",
			pod: withResources(withResources(testPod("p").init("i").containers("a").obj(),
				"i", rl("2", "1Gi"), rl("2", "1Gi")), "a", rl("100m", "64Mi"), rl("100m", "64Mi")),
			want: PodCgroup{Path: "/kubepods/poduid-p", CPUShares: 2048, CPUQuota: 200000, CPUPeriod: 100000, MemoryLimit: 1 << 30},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, podCgroup("/kubepods", tt.pod)); diff != "" {
				t.Errorf("podCgroup (-want +got):\n%s", diff)
			}
		})
	}
}

// fakeCgroupV1 lays out a cgroup v1 tree in a temporary folder: one
// folder per controller with cgroup.procs, and cpuset's cpus and mems.
func fakeCgroupV1(t *testing.T) string {
	t.Helper()
	root := t.TempDir()
	for _, ctrl := range []string{"cpu", "memory", "cpuset", "pids"} {
		dir := filepath.Join(root, ctrl)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "cgroup.procs"), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for f, v := range map[string]string{"cpuset.cpus": "0-1", "cpuset.mems": "0"} {
		if err := os.WriteFile(filepath.Join(root, "cpuset", f), []byte(v), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// Not a cgroup hierarchy: ignored.
	if err := os.MkdirAll(filepath.Join(root, "other"), 0o755); err != nil {
		t.Fatal(err)
	}
	return root
}

func TestCgroupFSv1(t *testing.T) {
	mount := fakeCgroupV1(t)
	cg := cgroupFS{mount: mount}
	pc := PodCgroup{Path: "/kubepods/burstable/poduid-p", CPUShares: 204, CPUQuota: 50000, CPUPeriod: 100000, MemoryLimit: 64 << 20}
	if err := cg.ensure(pc); err != nil {
		t.Fatal(err)
	}
	read := func(ctrl, file string) string {
		b, err := os.ReadFile(filepath.Join(mount, ctrl, "kubepods", "burstable", "poduid-p", file))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	got := map[string]string{
		"cpu.shares": read("cpu", "cpu.shares"), "cpu.cfs_period_us": read("cpu", "cpu.cfs_period_us"), "cpu.cfs_quota_us": read("cpu", "cpu.cfs_quota_us"),
		"memory.limit_in_bytes": read("memory", "memory.limit_in_bytes"),
		"cpuset.cpus":           read("cpuset", "cpuset.cpus"), "cpuset.mems": read("cpuset", "cpuset.mems"),
	}
	want := map[string]string{
		"cpu.shares": "204", "cpu.cfs_period_us": "100000", "cpu.cfs_quota_us": "50000", "memory.limit_in_bytes": "67108864",
		"cpuset.cpus": "0-1", "cpuset.mems": "0",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("pod cgroup files (-want +got):\n%s", diff)
	}
	if _, err := os.Stat(filepath.Join(mount, "pids", "kubepods", "burstable", "poduid-p")); err != nil {
		t.Errorf("pod cgroup missing in the pids hierarchy: %v", err)
	}
	if _, err := os.Stat(filepath.Join(mount, "other", "kubepods")); err == nil {
		t.Errorf("a folder that is no cgroup hierarchy got a pod cgroup")
	}

	// The files the test wrote make the folders non-empty, as a real
	// cgroup's are not: remove them before removing the cgroup.
	for _, ctrl := range []string{"cpu", "memory", "cpuset", "pids"} {
		dir := filepath.Join(mount, ctrl, "kubepods", "burstable", "poduid-p")
		entries, _ := os.ReadDir(dir)
		for _, e := range entries {
			os.Remove(filepath.Join(dir, e.Name()))
		}
	}
	if err := cg.remove(podCgroupPaths("/kubepods", "uid-p")...); err != nil {
		t.Fatalf("remove: %v", err)
	}
	for _, ctrl := range []string{"cpu", "memory", "cpuset", "pids"} {
		if _, err := os.Stat(filepath.Join(mount, ctrl, "kubepods", "burstable", "poduid-p")); err == nil {
			t.Errorf("pod cgroup still in %s", ctrl)
		}
	}
	if err := cg.remove(podCgroupPaths("/kubepods", "uid-p")...); err != nil {
		t.Errorf("removing again: %v, want nothing", err)
	}
}

func TestGraceAfterPreStop(t *testing.T) {
	tests := []struct {
		grace, took, want time.Duration
	}{
		{30 * time.Second, 5 * time.Second, 25 * time.Second},
		{30 * time.Second, 29 * time.Second, 2 * time.Second},
		{10 * time.Second, 15 * time.Second, 2 * time.Second},
	}
	for _, tt := range tests {
		if got := graceAfterPreStop(tt.grace, tt.took); got != tt.want {
			t.Errorf("graceAfterPreStop(%s, %s) = %s, want %s", tt.grace, tt.took, got, tt.want)
		}
	}
}
