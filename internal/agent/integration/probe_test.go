package integration

import (
	"context"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"skiff/internal/agent"
	"skiff/internal/agent/sim"
	"skiff/internal/server/servertest"
)

// failingLiveness fails every liveness probe and passes the others.
type failingLiveness struct{}

func (failingLiveness) Probe(_ context.Context, _ *corev1.Pod, c *corev1.Container, p *corev1.Probe, _ string) (agent.ProbeResult, error) {
	if p == c.LivenessProbe {
		return agent.ProbeFailure, nil
	}
	return agent.ProbeSuccess, nil
}

func TestLivenessFailureRestartsTheContainer(t *testing.T) {
	s := servertest.Start(t, nil)
	client := s.Client
	rt, err := sim.New(sim.Config{})
	if err != nil {
		t.Fatal(err)
	}
	a, err := agent.New(agent.Config{NodeName: "node-p", Client: s.NodeClient(t, "node-p"), Runtime: rt, Prober: failingLiveness{}, NodeIPs: []string{"192.0.2.11"}, Logger: servertest.Logger()})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })

	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "sick", Namespace: "default"},
		Spec: corev1.PodSpec{
			NodeName: "node-p",
			Containers: []corev1.Container{{
				Name: "main", Image: "busybox",
				LivenessProbe: &corev1.Probe{
					ProbeHandler:  corev1.ProbeHandler{Exec: &corev1.ExecAction{Command: []string{"false"}}},
					PeriodSeconds: 1, FailureThreshold: 1,
				},
			}},
		},
	}
	if _, err := client.CoreV1().Pods("default").Create(context.Background(), pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	p := waitPod(t, client, "sick", "restarted by its liveness probe", func(p *corev1.Pod) bool {
		return len(p.Status.ContainerStatuses) == 1 && p.Status.ContainerStatuses[0].RestartCount >= 1
	})
	if last := p.Status.ContainerStatuses[0].LastTerminationState.Terminated; last == nil || last.ExitCode != 137 {
		t.Errorf("lastState = %+v, want terminated with 137", p.Status.ContainerStatuses[0].LastTerminationState)
	}
}
