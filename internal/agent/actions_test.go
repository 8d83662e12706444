package agent

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
)

func TestComputeActions(t *testing.T) {
	now := t0.Add(time.Hour)
	sb := readySandbox()
	start := func(name string, kind ContainerKind, attempt uint32) Action {
		return Action{Kind: StartContainer, SandboxID: "sb0", Container: name, ContainerKind: kind, Attempt: attempt}
	}
	kill := func(c Container, grace time.Duration, reason string) Action {
		return Action{Kind: KillContainer, ContainerID: c.ID, Container: c.Name, Grace: grace, Reason: reason}
	}
	tests := []struct {
		name string
		pod  *corev1.Pod
		obs  Observed
		want Plan
	}{
		{
			name: "new pod gets a sandbox",
			pod:  testPod("p").containers("c").obj(),
			want: Plan{Actions: []Action{{Kind: CreateSandbox}}},
		},
		{
			name: "dead sandbox is replaced with the next attempt",
			pod:  testPod("p").containers("c").obj(),
			obs:  Observed{Sandboxes: []Sandbox{{ID: "sb0", State: SandboxNotReady, Attempt: 2}}},
			want: Plan{Actions: []Action{{Kind: CreateSandbox, Attempt: 3}}},
		},
		{
			name: "containers of a dead sandbox are killed first",
			pod:  testPod("p").containers("c").obj(),
			obs:  Observed{Sandboxes: []Sandbox{{ID: "sb0", State: SandboxNotReady}}, Containers: []Container{running("c", 0)}},
			want: Plan{Actions: []Action{kill(running("c", 0), 0, "SandboxChanged")}},
		},
		{
			name: "first init container starts first",
			pod:  testPod("p").init("i1", "i2").containers("c").obj(),
			obs:  Observed{Sandboxes: []Sandbox{sb}},
			want: Plan{Actions: []Action{start("i1", Init, 0)}},
		},
		{
			name: "running init container blocks the next",
			pod:  testPod("p").init("i1", "i2").containers("c").obj(),
			obs:  Observed{Sandboxes: []Sandbox{sb}, Containers: []Container{running("i1", 0)}},
		},
		{
			name: "init containers run in order",
			pod:  testPod("p").init("i1", "i2").containers("c").obj(),
			obs:  Observed{Sandboxes: []Sandbox{sb}, Containers: []Container{exited("i1", 0, 0, now)}},
			want: Plan{Actions: []Action{start("i2", Init, 0)}},
		},
		{
			name: "containers start after the init containers",
			pod:  testPod("p").init("i1").containers("a", "b").obj(),
			obs:  Observed{Sandboxes: []Sandbox{sb}, Containers: []Container{exited("i1", 0, 0, now)}},
			want: Plan{Actions: []Action{start("a", Regular, 0), start("b", Regular, 0)}},
		},
		{
			name: "failed init container restarts at once the first time",
			pod:  testPod("p").init("i1").containers("c").obj(),
			obs:  Observed{Sandboxes: []Sandbox{sb}, Containers: []Container{exited("i1", 0, 1, now)}},
			want: Plan{Actions: []Action{start("i1", Init, 1)}},
		},
		{
			name: "failed init container with restartPolicy Never fails the pod",
			pod:  testPod("p").init("i1").containers("c").restart(corev1.RestartPolicyNever).obj(),
			obs:  Observed{Sandboxes: []Sandbox{sb}, Containers: []Container{exited("i1", 0, 1, now)}},
			want: Plan{Actions: []Action{{Kind: StopSandbox, SandboxID: "sb0", Reason: "Completed"}}},
		},
		{
			name: "sidecar starts and the next init container waits for it",
			pod:  testPod("p").sidecar("s").init("i1").containers("c").obj(),
			obs:  Observed{Sandboxes: []Sandbox{sb}},
			want: Plan{Actions: []Action{start("s", Sidecar, 0)}},
		},
		{
			name: "running sidecar lets the next init container start",
			pod:  testPod("p").sidecar("s").init("i1").containers("c").obj(),
			obs:  Observed{Sandboxes: []Sandbox{sb}, Containers: []Container{running("s", 0)}},
			want: Plan{Actions: []Action{start("i1", Init, 0)}},
		},
		{
			name: "exited sidecar restarts even with restartPolicy Never",
			pod:  testPod("p").sidecar("s").containers("c").restart(corev1.RestartPolicyNever).obj(),
			obs:  Observed{Sandboxes: []Sandbox{sb}, Containers: []Container{exited("s", 0, 1, now), running("c", 0)}},
			want: Plan{Actions: []Action{start("s", Sidecar, 1)}},
		},
		{
			name: "all running: nothing to do",
			pod:  testPod("p").containers("a", "b").obj(),
			obs:  Observed{Sandboxes: []Sandbox{sb}, Containers: []Container{running("a", 0), running("b", 0)}},
		},
		{
			name: "Always restarts a container that succeeded",
			pod:  testPod("p").containers("c").obj(),
			obs:  Observed{Sandboxes: []Sandbox{sb}, Containers: []Container{exited("c", 0, 0, now)}},
			want: Plan{Actions: []Action{start("c", Regular, 1)}},
		},
		{
			name: "OnFailure does not restart a container that succeeded; the pod is done",
			pod:  testPod("p").containers("c").restart(corev1.RestartPolicyOnFailure).obj(),
			obs:  Observed{Sandboxes: []Sandbox{sb}, Containers: []Container{exited("c", 0, 0, now)}},
			want: Plan{Actions: []Action{{Kind: StopSandbox, SandboxID: "sb0", Reason: "Completed"}}},
		},
		{
			name: "OnFailure restarts a failed container",
			pod:  testPod("p").containers("c").restart(corev1.RestartPolicyOnFailure).obj(),
			obs:  Observed{Sandboxes: []Sandbox{sb}, Containers: []Container{exited("c", 0, 2, now)}},
			want: Plan{Actions: []Action{start("c", Regular, 1)}},
		},
		{
			name: "Never: a finished pod kills its sidecars, then stops its sandbox",
			pod:  testPod("p").sidecar("s").containers("c").restart(corev1.RestartPolicyNever).obj(),
			obs:  Observed{Sandboxes: []Sandbox{sb}, Containers: []Container{running("s", 0), exited("c", 0, 1, now)}},
			want: Plan{Actions: []Action{kill(running("s", 0), 30*time.Second, "Completed")}},
		},
		{
			name: "deleted pod: its containers stop before its sidecars, whose preStop hooks they may need",
			pod:  testPod("p").sidecar("s1").sidecar("s2").containers("c1", "c2").deleting(15).obj(),
			obs:  Observed{Sandboxes: []Sandbox{sb}, Containers: []Container{running("s1", 0), running("s2", 0), running("c1", 0), running("c2", 0)}},
			want: Plan{Actions: []Action{kill(running("c1", 0), 15*time.Second, "Killing"), kill(running("c2", 0), 15*time.Second, "Killing")}},
		},
		{
			name: "deleted pod: then its sidecars, the last declared first",
			pod:  testPod("p").sidecar("s1").sidecar("s2").containers("c1").deleting(15).obj(),
			obs:  Observed{Sandboxes: []Sandbox{sb}, Containers: []Container{running("s1", 0), running("s2", 0), exited("c1", 0, 0, now)}},
			want: Plan{Actions: []Action{kill(running("s2", 0), 15*time.Second, "Killing")}},
		},
		{
			name: "deleted pod: the first sidecar last",
			pod:  testPod("p").sidecar("s1").sidecar("s2").containers("c1").deleting(15).obj(),
			obs:  Observed{Sandboxes: []Sandbox{sb}, Containers: []Container{running("s1", 0), exited("s2", 0, 0, now), exited("c1", 0, 0, now)}},
			want: Plan{Actions: []Action{kill(running("s1", 0), 15*time.Second, "Killing")}},
		},
		{
			name: "an ephemeral container added to a running pod starts",
			pod:  withEphemeral(testPod("p").containers("c").obj(), "debug"),
			obs:  Observed{Sandboxes: []Sandbox{sb}, Containers: []Container{running("c", 0)}},
			want: Plan{Actions: []Action{{Kind: StartContainer, SandboxID: "sb0", Container: "debug", ContainerKind: Ephemeral}}},
		},
		{
			name: "an exited ephemeral container is not restarted",
			pod:  withEphemeral(testPod("p").containers("c").obj(), "debug"),
			obs:  Observed{Sandboxes: []Sandbox{sb}, Containers: []Container{running("c", 0), exited("debug", 0, 1, now)}},
		},
		{
			name: "finished pod with a stopped sandbox: no new sandbox",
			pod:  testPod("p").containers("c").restart(corev1.RestartPolicyNever).obj(),
			obs:  Observed{Sandboxes: []Sandbox{{ID: "sb0", State: SandboxNotReady}}, Containers: []Container{exited("c", 0, 0, now)}},
		},
		{
			name: "second restart waits 10s (CrashLoopBackOff)",
			pod:  testPod("p").containers("c").obj(),
			obs:  Observed{Sandboxes: []Sandbox{sb}, Containers: []Container{exited("c", 1, 1, now.Add(-4*time.Second))}},
			want: Plan{RequeueAfter: 6 * time.Second, BackOff: []string{"c"}},
		},
		{
			name: "back-off doubles: attempt 3 waits 40s",
			pod:  testPod("p").containers("c").obj(),
			obs:  Observed{Sandboxes: []Sandbox{sb}, Containers: []Container{exited("c", 3, 1, now)}},
			want: Plan{RequeueAfter: 40 * time.Second, BackOff: []string{"c"}},
		},
		{
			name: "back-off is capped at 5 minutes",
			pod:  testPod("p").containers("c").obj(),
			obs:  Observed{Sandboxes: []Sandbox{sb}, Containers: []Container{exited("c", 20, 1, now)}},
			want: Plan{RequeueAfter: 5 * time.Minute, BackOff: []string{"c"}},
		},
		{
			name: "back-off over: restart with the next attempt; old instances collected",
			pod:  testPod("p").containers("c").obj(),
			obs: Observed{Sandboxes: []Sandbox{sb}, Containers: []Container{
				exited("c", 0, 1, now.Add(-time.Hour)), exited("c", 1, 1, now.Add(-time.Hour)), exited("c", 2, 1, now.Add(-time.Minute)),
			}},
			want: Plan{Actions: []Action{start("c", Regular, 3), {Kind: RemoveContainer, ContainerID: "c-0", Container: "c"}}},
		},
		{
			name: "failed liveness probe kills the container",
			pod:  testPod("p").containers("c").obj(),
			obs: Observed{Sandboxes: []Sandbox{sb}, Containers: []Container{running("c", 0)},
				Probes: map[string]ProbeState{"c": {ContainerID: "c-0", LivenessFailed: true}}},
			want: Plan{Actions: []Action{kill(running("c", 0), 30*time.Second, "Unhealthy")}},
		},
		{
			name: "liveness result of an older instance is ignored",
			pod:  testPod("p").containers("c").obj(),
			obs: Observed{Sandboxes: []Sandbox{sb}, Containers: []Container{running("c", 1)},
				Probes: map[string]ProbeState{"c": {ContainerID: "c-0", LivenessFailed: true}}},
		},
		{
			name: "deletion kills containers with the deletion grace period",
			pod:  testPod("p").containers("c").deleting(7).obj(),
			obs:  Observed{Sandboxes: []Sandbox{sb}, Containers: []Container{running("c", 0)}},
			want: Plan{Actions: []Action{kill(running("c", 0), 7*time.Second, "Killing")}},
		},
		{
			name: "deletion then stops the sandbox",
			pod:  testPod("p").containers("c").deleting(7).obj(),
			obs:  Observed{Sandboxes: []Sandbox{sb}, Containers: []Container{exited("c", 0, 137, now)}},
			want: Plan{Actions: []Action{{Kind: StopSandbox, SandboxID: "sb0", Reason: "Killing"}}},
		},
		{
			name: "deletion then removes everything and deletes the pod",
			pod:  testPod("p").containers("c").deleting(7).obj(),
			obs:  Observed{Sandboxes: []Sandbox{{ID: "sb0", State: SandboxNotReady}}, Containers: []Container{exited("c", 0, 137, now)}},
			want: Plan{Actions: []Action{{Kind: RemoveSandbox, SandboxID: "sb0"}, {Kind: DeletePod}}},
		},
		{
			name: "pod gone from the API: killed at once, no delete",
			pod:  nil,
			obs:  Observed{Sandboxes: []Sandbox{sb}, Containers: []Container{running("c", 0)}},
			want: Plan{Actions: []Action{kill(running("c", 0), 0, "Killing")}},
		},
		{
			name: "pod gone and nothing left: nothing to do",
			pod:  nil,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := computeActions(tt.pod, tt.obs, now)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("computeActions (-want +got):\n%s", diff)
			}
		})
	}
}

func TestBackoffDelay(t *testing.T) {
	tests := []struct {
		attempt uint32
		want    time.Duration
	}{
		{0, 0}, {1, 10 * time.Second}, {2, 20 * time.Second}, {3, 40 * time.Second},
		{5, 160 * time.Second}, {6, 5 * time.Minute}, {100, 5 * time.Minute},
	}
	for _, tt := range tests {
		if got := backoffDelay(tt.attempt); got != tt.want {
			t.Errorf("backoffDelay(%d) = %s, want %s", tt.attempt, got, tt.want)
		}
	}
}

func withEphemeral(p *corev1.Pod, name string) *corev1.Pod {
	p.Spec.EphemeralContainers = append(p.Spec.EphemeralContainers, corev1.EphemeralContainer{
		EphemeralContainerCommon: corev1.EphemeralContainerCommon{Name: name, Image: "busybox"}})
	return p
}
