package sim

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"

	"skiff/internal/agent"
)

// TestRuntime drives one pretend container per case and checks where it
// ends: the runtime notifies each transition, so the test waits for
// notifications, never for time.
func TestRuntime(t *testing.T) {
	tests := []struct {
		name        string
		policy      corev1.RestartPolicy
		annotations map[string]string
		kind        agent.ContainerKind
		want        agent.ContainerState
		wantCode    int32
	}{
		{name: "Always keeps running", policy: corev1.RestartPolicyAlways, kind: agent.Regular, want: agent.ContainerRunning},
		{name: "Never exits 0", policy: corev1.RestartPolicyNever, kind: agent.Regular, want: agent.ContainerExited},
		{name: "OnFailure exits 0", policy: corev1.RestartPolicyOnFailure, kind: agent.Regular, want: agent.ContainerExited},
		{name: "exit code annotation", policy: corev1.RestartPolicyAlways, annotations: map[string]string{AnnotationExitCode: "3"}, kind: agent.Regular, want: agent.ContainerExited, wantCode: 3},
		{name: "init container exits 0", policy: corev1.RestartPolicyAlways, kind: agent.Init, want: agent.ContainerExited},
		{name: "sidecar keeps running under Never", policy: corev1.RestartPolicyNever, kind: agent.Sidecar, want: agent.ContainerRunning},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			r, err := New(Config{StartDelay: time.Millisecond, RunTime: time.Millisecond, FakeCIDR: "10.1.2.0/24"})
			if err != nil {
				t.Fatal(err)
			}
			var mu sync.Mutex
			events := make(chan struct{}, 10)
			r.Subscribe(func(types.UID) { mu.Lock(); events <- struct{}{}; mu.Unlock() })
			sb, err := r.RunPodSandbox(ctx, agent.SandboxConfig{PodUID: "u1", Name: "p", Namespace: "ns", RestartPolicy: tt.policy, Annotations: tt.annotations})
			if err != nil {
				t.Fatal(err)
			}
			id, err := r.CreateContainer(ctx, sb, agent.ContainerConfig{Name: "c", Kind: tt.kind, Image: "busybox"})
			if err != nil {
				t.Fatal(err)
			}
			if err := r.StartContainer(ctx, id); err != nil {
				t.Fatal(err)
			}
			<-events // started (an init container exits right away)
			if tt.want == agent.ContainerExited && tt.kind != agent.Init {
				<-events
			}
			cs, _ := r.ListContainers(ctx, "u1")
			if len(cs) != 1 || cs[0].State != tt.want || cs[0].ExitCode != tt.wantCode {
				t.Fatalf("containers = %+v, want one in state %v with exit code %d", cs, tt.want, tt.wantCode)
			}
			sbs, _ := r.ListPodSandboxes(ctx, "u1")
			if diff := cmp.Diff([]string{"10.1.2.2"}, sbs[0].IPs); diff != "" {
				t.Errorf("sandbox IPs (-want +got):\n%s", diff)
			}
		})
	}
}

func TestRuntimeStopAndRemove(t *testing.T) {
	ctx := context.Background()
	r, err := New(Config{FakeCIDR: "10.1.2.0/30"}) // one usable address
	if err != nil {
		t.Fatal(err)
	}
	sb, err := r.RunPodSandbox(ctx, agent.SandboxConfig{PodUID: "u1", RestartPolicy: corev1.RestartPolicyAlways})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.RunPodSandbox(ctx, agent.SandboxConfig{PodUID: "u2"}); err == nil {
		t.Fatal("second sandbox got an address from a full range")
	}
	id, _ := r.CreateContainer(ctx, sb, agent.ContainerConfig{Name: "c"})
	if err := r.StartContainer(ctx, id); err != nil {
		t.Fatal(err)
	}
	if err := r.StopPodSandbox(ctx, sb); err != nil {
		t.Fatal(err)
	}
	cs, _ := r.ListContainers(ctx, "u1")
	if len(cs) != 1 || cs[0].State != agent.ContainerExited || cs[0].ExitCode != 137 {
		t.Errorf("after stop: %+v, want exited 137", cs)
	}
	if _, err := r.RunPodSandbox(ctx, agent.SandboxConfig{PodUID: "u2"}); err != nil {
		t.Errorf("stopping a sandbox did not free its address: %v", err)
	}
	if err := r.RemovePodSandbox(ctx, sb); err != nil {
		t.Fatal(err)
	}
	if cs, _ := r.ListContainers(ctx, "u1"); len(cs) != 0 {
		t.Errorf("after remove: %+v", cs)
	}
	if err := r.RemovePodSandbox(ctx, sb); err != nil {
		t.Errorf("remove is not idempotent: %v", err)
	}
}
