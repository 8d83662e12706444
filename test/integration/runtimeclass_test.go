package integration

import (
	"context"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	nodev1 "k8s.io/api/node/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"skiff/internal/server/servertest"
)

// TestRuntimeClassAdmission checks that a pod naming a RuntimeClass gets
// its overhead and scheduling, and that one naming a missing class is
// refused.
func TestRuntimeClassAdmission(t *testing.T) {
	ts := servertest.Start(t, nil)
	ctx := context.Background()
	if _, err := ts.Client.NodeV1().RuntimeClasses().Create(ctx, &nodev1.RuntimeClass{ObjectMeta: metav1.ObjectMeta{Name: "kata"}, Handler: "kata",
		Overhead:   &nodev1.Overhead{PodFixed: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("10m"), corev1.ResourceMemory: resource.MustParse("1Mi")}},
		Scheduling: &nodev1.Scheduling{NodeSelector: map[string]string{"sandbox": "kata"}}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	pod := func(name, class string) *corev1.Pod {
		return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: corev1.PodSpec{RuntimeClassName: &class,
			Containers: []corev1.Container{{Name: "c", Image: "busybox"}}}}
	}
	got, err := ts.Client.CoreV1().Pods("default").Create(ctx, pod("p", "kata"), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cpu := got.Spec.Overhead[corev1.ResourceCPU]
	if cpu.String() != "10m" || got.Spec.NodeSelector["sandbox"] != "kata" {
		t.Errorf("pod with the RuntimeClass: overhead %v, node selector %v", got.Spec.Overhead, got.Spec.NodeSelector)
	}
	_, err = ts.Client.CoreV1().Pods("default").Create(ctx, pod("q", "nope"), metav1.CreateOptions{})
	if !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), `RuntimeClass "nope" not found`) {
		t.Errorf("pod with a missing RuntimeClass: %v, want Forbidden", err)
	}
}
