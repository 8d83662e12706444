package agent

import (
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// podBuilder builds test pods: testPod("p").init("i1").containers("c").obj().
type podBuilder struct{ p *corev1.Pod }

func testPod(name string) *podBuilder {
	return &podBuilder{p: &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default", UID: types.UID("uid-" + name)},
		Spec:       corev1.PodSpec{NodeName: "n1", RestartPolicy: corev1.RestartPolicyAlways, TerminationGracePeriodSeconds: ptr.To(int64(30))},
	}}
}

func (b *podBuilder) containers(names ...string) *podBuilder {
	for _, n := range names {
		b.p.Spec.Containers = append(b.p.Spec.Containers, corev1.Container{Name: n, Image: "busybox"})
	}
	return b
}

func (b *podBuilder) init(names ...string) *podBuilder {
	for _, n := range names {
		b.p.Spec.InitContainers = append(b.p.Spec.InitContainers, corev1.Container{Name: n, Image: "busybox"})
	}
	return b
}

func (b *podBuilder) sidecar(name string) *podBuilder {
	b.p.Spec.InitContainers = append(b.p.Spec.InitContainers, corev1.Container{Name: name, Image: "busybox", RestartPolicy: ptr.To(corev1.ContainerRestartPolicyAlways)})
	return b
}

func (b *podBuilder) restart(p corev1.RestartPolicy) *podBuilder {
	b.p.Spec.RestartPolicy = p
	return b
}

func (b *podBuilder) readiness(name string) *podBuilder {
	for i := range b.p.Spec.Containers {
		if b.p.Spec.Containers[i].Name == name {
			b.p.Spec.Containers[i].ReadinessProbe = &corev1.Probe{}
		}
	}
	return b
}

func (b *podBuilder) deleting(grace int64) *podBuilder {
	b.p.DeletionTimestamp = &metav1.Time{Time: t0}
	b.p.DeletionGracePeriodSeconds = &grace
	return b
}

func (b *podBuilder) obj() *corev1.Pod { return b.p }

func readySandbox() Sandbox {
	return Sandbox{ID: "sb0", PodUID: "uid-p", State: SandboxReady, IPs: []string{"10.0.0.2"}, CreatedAt: t0}
}

func running(name string, attempt uint32) Container {
	return Container{ID: name + "-" + string(rune('0'+attempt)), SandboxID: "sb0", Name: name, Attempt: attempt, State: ContainerRunning, ImageRef: "sha256:x", CreatedAt: t0, StartedAt: t0}
}

func exited(name string, attempt uint32, code int32, finished time.Time) Container {
	c := running(name, attempt)
	c.State, c.ExitCode, c.FinishedAt = ContainerExited, code, finished
	return c
}
