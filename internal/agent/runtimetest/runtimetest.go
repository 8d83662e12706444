package runtimetest

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"

	"skiff/internal/agent"
)

// Image is the image the suite's containers run, with Command, which runs
// until it is stopped.
const Image = "localhost/skiff/busybox:test"

// Command is what the suite's containers run.
var Command = []string{"sleep", "3600"}

// waitTimeout bounds how long a container may take to reach a state.
const waitTimeout = 30 * time.Second

// Run checks the runtime newRuntime returns against the agent.Runtime
// contract. newRuntime is called once per subtest; it must arrange for
// the runtime to be closed when that test ends.
func Run(t *testing.T, newRuntime func(t *testing.T) agent.Runtime) {
	tests := []struct {
		name string
		run  func(t *testing.T, rt agent.Runtime)
	}{
		{"version", testVersion},
		{"sandbox lifecycle", testSandboxLifecycle},
		{"container lifecycle", testContainerLifecycle},
		{"stop and remove are idempotent", testIdempotent},
		{"missing sandbox or container is ErrNotFound", testNotFound},
		{"a running container's resources are updated in place", testUpdateResources},
		{"stopping a sandbox stops its containers", testStopSandboxStopsContainers},
		{"lists are filtered by pod", testListFilter},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.run(t, newRuntime(t)) })
	}
}

// pod is one pod's sandbox and its running container.
type pod struct {
	uid       types.UID
	sandboxID string
	container string
}

func sandboxConfig(uid types.UID) agent.SandboxConfig {
	return agent.SandboxConfig{
		PodUID: uid, Name: "pod-" + string(uid), Namespace: "runtimetest", Hostname: "pod-" + string(uid),
		HostNetwork:   true,
		RestartPolicy: corev1.RestartPolicyAlways,
	}
}

// imageRef returns Image's reference, pulling it only if the runtime does
// not have it, as the agent does for an IfNotPresent pull policy.
func imageRef(t *testing.T, rt agent.Runtime) string {
	t.Helper()
	ref, err := rt.ImageStatus(t.Context(), Image)
	if err != nil {
		t.Fatalf("image status %s: %v", Image, err)
	}
	if ref != "" {
		return ref
	}
	if ref, err = rt.PullImage(t.Context(), Image, nil); err != nil {
		t.Fatalf("pull %s: %v", Image, err)
	}
	if again, err := rt.ImageStatus(t.Context(), Image); err != nil || again != ref {
		t.Errorf("ImageStatus after a pull = %q, %v; want the pulled reference %q", again, err, ref)
	}
	return ref
}

// startPod runs a sandbox for uid with one running container.
func startPod(t *testing.T, rt agent.Runtime, uid types.UID) pod {
	t.Helper()
	ctx := t.Context()
	ref := imageRef(t, rt)
	sb, err := rt.RunPodSandbox(ctx, sandboxConfig(uid))
	if err != nil {
		t.Fatalf("run sandbox: %v", err)
	}
	t.Cleanup(func() { _ = rt.RemovePodSandbox(context.Background(), sb) })
	c, err := rt.CreateContainer(ctx, sb, agent.ContainerConfig{Name: "main", Image: Image, ImageRef: ref, Command: Command})
	if err != nil {
		t.Fatalf("create container: %v", err)
	}
	if err := rt.StartContainer(ctx, c); err != nil {
		t.Fatalf("start container: %v", err)
	}
	waitContainer(t, rt, uid, c, agent.ContainerRunning)
	return pod{uid: uid, sandboxID: sb, container: c}
}

func sandboxOf(t *testing.T, rt agent.Runtime, uid types.UID, id string) (agent.Sandbox, bool) {
	t.Helper()
	sbs, err := rt.ListPodSandboxes(t.Context(), uid)
	if err != nil {
		t.Fatalf("list sandboxes: %v", err)
	}
	i := slices.IndexFunc(sbs, func(s agent.Sandbox) bool { return s.ID == id })
	if i < 0 {
		return agent.Sandbox{}, false
	}
	return sbs[i], true
}

func containerOf(t *testing.T, rt agent.Runtime, uid types.UID, id string) (agent.Container, bool) {
	t.Helper()
	cs, err := rt.ListContainers(t.Context(), uid)
	if err != nil {
		t.Fatalf("list containers: %v", err)
	}
	i := slices.IndexFunc(cs, func(c agent.Container) bool { return c.ID == id })
	if i < 0 {
		return agent.Container{}, false
	}
	return cs[i], true
}

// waitContainer polls until the container is listed in state: a runtime
// may start or stop a container asynchronously.
func waitContainer(t *testing.T, rt agent.Runtime, uid types.UID, id string, state agent.ContainerState) agent.Container {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for {
		c, ok := containerOf(t, rt, uid, id)
		if ok && c.State == state {
			return c
		}
		if time.Now().After(deadline) {
			t.Fatalf("container %s: listed %v, state %v; want state %v", id, ok, c.State, state)
		}
		time.Sleep(20 * time.Millisecond) // polling a condition, not timing a result
	}
}

func testVersion(t *testing.T, rt agent.Runtime) {
	name, version, err := rt.Version(t.Context())
	if err != nil || name == "" || version == "" {
		t.Errorf("Version() = %q, %q, %v; want a name and a version", name, version, err)
	}
}

func testSandboxLifecycle(t *testing.T, rt agent.Runtime) {
	ctx := t.Context()
	cfg := sandboxConfig("sb-1")
	cfg.Attempt = 2
	id, err := rt.RunPodSandbox(ctx, cfg)
	if err != nil {
		t.Fatalf("run sandbox: %v", err)
	}
	t.Cleanup(func() { _ = rt.RemovePodSandbox(context.Background(), id) })
	sb, ok := sandboxOf(t, rt, "sb-1", id)
	if !ok {
		t.Fatalf("sandbox %s not listed after RunPodSandbox", id)
	}
	if sb.PodUID != "sb-1" || sb.Name != cfg.Name || sb.Namespace != cfg.Namespace || sb.Attempt != 2 || sb.State != agent.SandboxReady {
		t.Errorf("listed sandbox = %+v; want pod sb-1 %s/%s attempt 2 Ready", sb, cfg.Namespace, cfg.Name)
	}
	if err := rt.StopPodSandbox(ctx, id); err != nil {
		t.Fatalf("stop sandbox: %v", err)
	}
	if sb, ok := sandboxOf(t, rt, "sb-1", id); !ok || sb.State != agent.SandboxNotReady {
		t.Errorf("after StopPodSandbox: listed %v state %v; want listed NotReady", ok, sb.State)
	}
	if err := rt.RemovePodSandbox(ctx, id); err != nil {
		t.Fatalf("remove sandbox: %v", err)
	}
	if _, ok := sandboxOf(t, rt, "sb-1", id); ok {
		t.Error("sandbox still listed after RemovePodSandbox")
	}
}

func testContainerLifecycle(t *testing.T, rt agent.Runtime) {
	ctx := t.Context()
	ref := imageRef(t, rt)
	sb, err := rt.RunPodSandbox(ctx, sandboxConfig("c-1"))
	if err != nil {
		t.Fatalf("run sandbox: %v", err)
	}
	t.Cleanup(func() { _ = rt.RemovePodSandbox(context.Background(), sb) })
	id, err := rt.CreateContainer(ctx, sb, agent.ContainerConfig{Name: "main", Image: Image, ImageRef: ref, Command: Command, Attempt: 1})
	if err != nil {
		t.Fatalf("create container: %v", err)
	}
	c := waitContainer(t, rt, "c-1", id, agent.ContainerCreated)
	if c.SandboxID != sb || c.PodUID != "c-1" || c.Name != "main" || c.Attempt != 1 {
		t.Errorf("created container = %+v; want sandbox %s, pod c-1, name main, attempt 1", c, sb)
	}
	if err := rt.StartContainer(ctx, id); err != nil {
		t.Fatalf("start container: %v", err)
	}
	waitContainer(t, rt, "c-1", id, agent.ContainerRunning)
	if err := rt.StopContainer(ctx, id, time.Second); err != nil {
		t.Fatalf("stop container: %v", err)
	}
	waitContainer(t, rt, "c-1", id, agent.ContainerExited)
	if err := rt.RemoveContainer(ctx, id); err != nil {
		t.Fatalf("remove container: %v", err)
	}
	if _, ok := containerOf(t, rt, "c-1", id); ok {
		t.Error("container still listed after RemoveContainer")
	}
}

func testIdempotent(t *testing.T, rt agent.Runtime) {
	ctx := t.Context()
	p := startPod(t, rt, "idem-1")
	calls := []struct {
		name string
		call func() error
	}{
		{"StopContainer", func() error { return rt.StopContainer(ctx, p.container, time.Second) }},
		{"StopContainer again", func() error { return rt.StopContainer(ctx, p.container, time.Second) }},
		{"RemoveContainer", func() error { return rt.RemoveContainer(ctx, p.container) }},
		{"RemoveContainer again", func() error { return rt.RemoveContainer(ctx, p.container) }},
		{"StopPodSandbox", func() error { return rt.StopPodSandbox(ctx, p.sandboxID) }},
		{"StopPodSandbox again", func() error { return rt.StopPodSandbox(ctx, p.sandboxID) }},
		{"RemovePodSandbox", func() error { return rt.RemovePodSandbox(ctx, p.sandboxID) }},
		{"RemovePodSandbox again", func() error { return rt.RemovePodSandbox(ctx, p.sandboxID) }},
		{"StopContainer of an unknown ID", func() error { return rt.StopContainer(ctx, unknownID, time.Second) }},
		{"RemoveContainer of an unknown ID", func() error { return rt.RemoveContainer(ctx, unknownID) }},
		{"StopPodSandbox of an unknown ID", func() error { return rt.StopPodSandbox(ctx, unknownID) }},
		{"RemovePodSandbox of an unknown ID", func() error { return rt.RemovePodSandbox(ctx, unknownID) }},
	}
	for _, c := range calls {
		if err := c.call(); err != nil {
			t.Errorf("%s: %v; want no error", c.name, err)
		}
	}
}

// unknownID is an ID no runtime hands out: 64 hex digits, as the CRI's
// IDs are, that were never used.
const unknownID = "0000000000000000000000000000000000000000000000000000000000000bad"

func testNotFound(t *testing.T, rt agent.Runtime) {
	ctx := t.Context()
	ref := imageRef(t, rt)
	_, err := rt.CreateContainer(ctx, unknownID, agent.ContainerConfig{Name: "main", Image: Image, ImageRef: ref, Command: Command})
	if !errors.Is(err, agent.ErrNotFound) {
		t.Errorf("CreateContainer in an unknown sandbox: %v; want an error wrapping agent.ErrNotFound", err)
	}
	if err := rt.StartContainer(ctx, unknownID); !errors.Is(err, agent.ErrNotFound) {
		t.Errorf("StartContainer of an unknown ID: %v; want an error wrapping agent.ErrNotFound", err)
	}
	if err := rt.UpdateContainerResources(ctx, unknownID, agent.ContainerResources{CPUShares: 2}); !errors.Is(err, agent.ErrNotFound) {
		t.Errorf("UpdateContainerResources of an unknown ID: %v; want an error wrapping agent.ErrNotFound", err)
	}
}

func testUpdateResources(t *testing.T, rt agent.Runtime) {
	p := startPod(t, rt, "update-1")
	want := agent.ContainerResources{CPUShares: 512, CPUQuota: 50000, CPUPeriod: 100000, MemoryLimit: 64 << 20}
	if err := rt.UpdateContainerResources(t.Context(), p.container, want); err != nil {
		t.Fatalf("update a running container's resources: %v", err)
	}
	c := waitContainer(t, rt, p.uid, p.container, agent.ContainerRunning)
	// Runtimes that report resources report the new ones.
	if c.Resources != nil && (c.Resources.CPUShares != want.CPUShares || c.Resources.CPUQuota != want.CPUQuota || c.Resources.MemoryLimit != want.MemoryLimit) {
		t.Errorf("resources after the update: %+v, want %+v", *c.Resources, want)
	}
}

func testStopSandboxStopsContainers(t *testing.T, rt agent.Runtime) {
	ctx := t.Context()
	p := startPod(t, rt, "stop-1")
	if err := rt.StopPodSandbox(ctx, p.sandboxID); err != nil {
		t.Fatalf("stop sandbox: %v", err)
	}
	waitContainer(t, rt, p.uid, p.container, agent.ContainerExited)
	if err := rt.RemovePodSandbox(ctx, p.sandboxID); err != nil {
		t.Fatalf("remove sandbox: %v", err)
	}
	if _, ok := containerOf(t, rt, p.uid, p.container); ok {
		t.Error("container still listed after its sandbox was removed")
	}
}

func testListFilter(t *testing.T, rt agent.Runtime) {
	a := startPod(t, rt, "list-a")
	b := startPod(t, rt, "list-b")
	for _, p := range []pod{a, b} {
		sbs, err := rt.ListPodSandboxes(t.Context(), p.uid)
		if err != nil {
			t.Fatal(err)
		}
		cs, err := rt.ListContainers(t.Context(), p.uid)
		if err != nil {
			t.Fatal(err)
		}
		if got := ids(sbs, cs); !slices.Equal(got, []string{p.sandboxID, p.container}) {
			t.Errorf("pod %s lists %v; want its sandbox and container %v", p.uid, got, []string{p.sandboxID, p.container})
		}
	}
	all, err := rt.ListPodSandboxes(t.Context(), "")
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []pod{a, b} {
		if !slices.ContainsFunc(all, func(s agent.Sandbox) bool { return s.ID == p.sandboxID }) {
			t.Errorf("ListPodSandboxes(\"\") lacks pod %s's sandbox", p.uid)
		}
	}
}

func ids(sbs []agent.Sandbox, cs []agent.Container) []string {
	var out []string
	for _, s := range sbs {
		out = append(out, s.ID)
	}
	for _, c := range cs {
		out = append(out, c.ID)
	}
	return out
}
