package integration

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"

	"skiff/internal/agent"
	"skiff/internal/agent/sim"
	"skiff/internal/server/servertest"
	"skiff/internal/testobj"
)

// runSizedAgent runs one agent on rt (a new sim runtime when nil) with
// a node of 1 cpu and 1Gi of memory, keeping its checkpoint in dir; stop
// ends it (else the test's end does).
func runSizedAgent(t *testing.T, client kubernetes.Interface, name, dir string, rt *sim.Runtime) (_ *sim.Runtime, stop func()) {
	t.Helper()
	if rt == nil {
		var err error
		if rt, err = sim.New(sim.Config{}); err != nil {
			t.Fatal(err)
		}
	}
	a, err := agent.New(agent.Config{
		NodeName: name, Client: client, Runtime: rt, RootDir: dir,
		NodeIPs:            []string{"192.0.2.10"},
		Capacity:           corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1"), corev1.ResourceMemory: resource.MustParse("1Gi")},
		LeaseDuration:      2 * time.Second,
		LeaseRenewInterval: 200 * time.Millisecond,
		Logger:             servertest.Logger(),
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("agent run: %v", err)
			}
		})
	}
	t.Cleanup(stop)
	return rt, stop
}

func resources(kv ...string) corev1.ResourceRequirements {
	r := corev1.ResourceRequirements{}
	for i := 0; i+3 <= len(kv); i += 3 {
		l := &r.Requests
		if kv[i] == "lim" {
			l = &r.Limits
		}
		if *l == nil {
			*l = corev1.ResourceList{}
		}
		(*l)[corev1.ResourceName(kv[i+1])] = resource.MustParse(kv[i+2])
	}
	return r
}

// resizePatch sends a strategic merge patch to the pod's resize
// subresource.
func resizePatch(t *testing.T, client kubernetes.Interface, pod, patch string) *corev1.Pod {
	t.Helper()
	p, err := client.CoreV1().Pods("default").Patch(context.Background(), pod, types.StrategicMergePatchType, []byte(patch), metav1.PatchOptions{}, "resize")
	if err != nil {
		t.Fatalf("resize %s: %v", pod, err)
	}
	return p
}

func resized(p *corev1.Pod) bool {
	if p.Status.ObservedGeneration < p.Generation || podCondition(p, corev1.PodReady) != corev1.ConditionTrue {
		return false
	}
	return podCondition(p, corev1.PodResizePending) == "" && podCondition(p, corev1.PodResizeInProgress) == ""
}

func statusOf(p *corev1.Pod, name string) corev1.ContainerStatus {
	for _, cs := range p.Status.ContainerStatuses {
		if cs.Name == name {
			return cs
		}
	}
	return corev1.ContainerStatus{}
}

func runtimeResources(t *testing.T, rt *sim.Runtime, uid types.UID, name string) agent.ContainerResources {
	t.Helper()
	cs, err := rt.ListContainers(context.Background(), uid)
	if err != nil {
		t.Fatal(err)
	}
	var out agent.ContainerResources
	var attempt uint32
	for _, c := range cs {
		if c.Name == name && c.State == agent.ContainerRunning && c.Resources != nil && c.Attempt >= attempt {
			out, attempt = *c.Resources, c.Attempt
		}
	}
	return out
}

func TestResizeInPlace(t *testing.T) {
	client := servertest.Start(t, nil).Client
	dir := t.TempDir()
	rt, stop := runSizedAgent(t, client, "node-r", dir, nil)
	pod := testobj.Pod("resize").Node("node-r").Containers("c1", "c2").Obj()
	// No controllers run: no default service account for a token volume.
	pod.Spec.AutomountServiceAccountToken = ptr.To(false)
	pod.Spec.Containers[0].Resources = resources("req", "cpu", "20m")
	pod.Spec.Containers[1].Resources = resources("req", "memory", "35Mi")
	pod.Spec.Containers[1].ResizePolicy = []corev1.ContainerResizePolicy{{ResourceName: corev1.ResourceMemory, RestartPolicy: corev1.RestartContainer}}
	createPod(t, client, pod)
	p := waitPod(t, client, "resize", "running with its resources in status", func(p *corev1.Pod) bool {
		return p.Status.Phase == corev1.PodRunning && statusOf(p, "c2").Resources != nil
	})
	if got := statusOf(p, "c1"); got.Resources.Requests.Cpu().String() != "20m" || got.AllocatedResources.Cpu().String() != "20m" {
		t.Errorf("c1 status resources %v allocated %v", got.Resources, got.AllocatedResources)
	}

	// c1 grows and gets a cpu limit, in place; c2's memory change
	// restarts it, as its resizePolicy says.
	resizePatch(t, client, "resize", `{"spec":{"containers":[{"name":"c1","resources":{"requests":{"cpu":"25m"},"limits":{"cpu":"35m"}}},{"name":"c2","resources":{"requests":{"memory":"40Mi"}}}]}}`)
	p = waitPod(t, client, "resize", "resized", resized)
	if p.Generation != 2 || p.Status.ObservedGeneration != 2 {
		t.Errorf("generation %d observed %d, want 2", p.Generation, p.Status.ObservedGeneration)
	}
	c1, c2 := statusOf(p, "c1"), statusOf(p, "c2")
	if c1.Resources.Limits.Cpu().String() != "35m" || c1.Resources.Requests.Cpu().String() != "25m" || c1.RestartCount != 0 {
		t.Errorf("c1 status resources %v, restarts %d", c1.Resources, c1.RestartCount)
	}
	if c2.Resources.Requests.Memory().String() != "40Mi" || c2.AllocatedResources.Memory().String() != "40Mi" || c2.RestartCount != 1 {
		t.Errorf("c2 status resources %v allocated %v, restarts %d", c2.Resources, c2.AllocatedResources, c2.RestartCount)
	}
	if got := runtimeResources(t, rt, p.UID, "c1"); got.CPUShares != 25 || got.CPUQuota != 3500 {
		t.Errorf("c1 in the runtime: %+v, want shares 25 and quota 3500", got)
	}

	// The node has 1 cpu: a resize to 2 waits, Deferred, until reverted.
	resizePatch(t, client, "resize", `{"spec":{"containers":[{"name":"c1","resources":{"requests":{"cpu":"2"},"limits":{"cpu":"2"}}}]}}`)
	p = waitPod(t, client, "resize", "deferred", func(p *corev1.Pod) bool {
		return podCondition(p, corev1.PodResizePending) == corev1.ConditionTrue && p.Status.ObservedGeneration == 3
	})
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodResizePending && (c.Reason != corev1.PodReasonDeferred || !strings.HasPrefix(c.Message, "Node didn't have enough resource: cpu, requested: 2000")) {
			t.Errorf("PodResizePending %s: %s", c.Reason, c.Message)
		}
	}
	if alloc := statusOf(p, "c1").AllocatedResources; alloc.Cpu().String() != "25m" {
		got := alloc.Cpu().String()
		t.Errorf("c1 allocated cpu while deferred: %s, want 25m", got)
	}
	resizePatch(t, client, "resize", `{"spec":{"containers":[{"name":"c1","resources":{"requests":{"cpu":"25m"},"limits":{"cpu":"35m"}}}]}}`)
	waitPod(t, client, "resize", "resize reverted", resized)

	// A runtime that refuses the update: PodResizeInProgress with the
	// error, until it accepts.
	rt.FailResourceUpdates(errors.New("refused"))
	resizePatch(t, client, "resize", `{"spec":{"containers":[{"name":"c1","resources":{"requests":{"cpu":"30m"}}}]}}`)
	waitPod(t, client, "resize", "resize error", func(p *corev1.Pod) bool {
		for _, c := range p.Status.Conditions {
			if c.Type == corev1.PodResizeInProgress && c.Reason == corev1.PodReasonError && strings.Contains(c.Message, "refused") {
				return true
			}
		}
		return false
	})
	rt.FailResourceUpdates(nil)
	p = waitPod(t, client, "resize", "resized after the error", resized)
	if got := statusOf(p, "c1").Resources.Requests.Cpu().String(); got != "30m" {
		t.Errorf("c1 cpu request after the error: %s", got)
	}

	// The allocation survives an agent restart: a new agent neither
	// resizes nor restarts anything again.
	stop()
	runSizedAgent(t, client, "node-r", dir, rt)
	resizePatch(t, client, "resize", `{"spec":{"containers":[{"name":"c1","resources":{"requests":{"cpu":"20m"}}}]}}`)
	p = waitPod(t, client, "resize", "resized by the restarted agent", resized)
	if c1, c2 := statusOf(p, "c1"), statusOf(p, "c2"); c1.Resources.Requests.Cpu().String() != "20m" || c1.RestartCount != 0 || c2.RestartCount != 1 {
		t.Errorf("after the agent restart: c1 %v restarts %d, c2 restarts %d", c1.Resources, c1.RestartCount, c2.RestartCount)
	}
}
