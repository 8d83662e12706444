package integration

import (
	"context"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"skiff/internal/server/servertest"
)

// TestPriorityAdmission checks that a pod's priority comes from its
// PriorityClass (here a built-in critical one), and that a pod may not set
// another value itself.
func TestPriorityAdmission(t *testing.T) {
	ts := servertest.Start(t, nil)
	ctx := context.Background()
	pod := func(name, class string, prio *int32) *corev1.Pod {
		return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: corev1.PodSpec{PriorityClassName: class, Priority: prio,
			Containers: []corev1.Container{{Name: "c", Image: "busybox"}}}}
	}
	got, err := ts.Client.CoreV1().Pods("kube-system").Create(ctx, pod("critical", "system-cluster-critical", nil), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got.Spec.Priority == nil || *got.Spec.Priority != 2000000000 || got.Spec.PreemptionPolicy == nil || *got.Spec.PreemptionPolicy != corev1.PreemptLowerPriority {
		t.Errorf("critical pod priority %v, policy %v", got.Spec.Priority, got.Spec.PreemptionPolicy)
	}
	got, err = ts.Client.CoreV1().Pods("default").Create(ctx, pod("plain", "", nil), metav1.CreateOptions{})
	if err != nil || got.Spec.Priority == nil || *got.Spec.Priority != 0 {
		t.Errorf("pod without a class: %v, %v", got.Spec.Priority, err)
	}
	_, err = ts.Client.CoreV1().Pods("default").Create(ctx, pod("self", "", ptr.To(int32(5))), metav1.CreateOptions{})
	if !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), "must not be provided in pod spec") {
		t.Errorf("pod setting its own priority: %v, want Forbidden", err)
	}
}
