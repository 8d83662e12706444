package integration

import (
	"context"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"skiff/internal/server/servertest"
)

// TestLimitRanger checks a namespace's LimitRange: containers without
// resources get its defaults (and the annotation saying so), a container
// asking for more than its max is refused.
func TestLimitRanger(t *testing.T) {
	ts := servertest.Start(t, nil)
	ctx := context.Background()
	q := resource.MustParse
	if _, err := ts.Client.CoreV1().LimitRanges("default").Create(ctx, &corev1.LimitRange{ObjectMeta: metav1.ObjectMeta{Name: "limits"},
		Spec: corev1.LimitRangeSpec{Limits: []corev1.LimitRangeItem{{Type: corev1.LimitTypeContainer,
			Min:            corev1.ResourceList{corev1.ResourceCPU: q("50m")},
			Max:            corev1.ResourceList{corev1.ResourceCPU: q("500m"), corev1.ResourceMemory: q("500Mi")},
			DefaultRequest: corev1.ResourceList{corev1.ResourceCPU: q("100m"), corev1.ResourceMemory: q("200Mi")},
			Default:        corev1.ResourceList{corev1.ResourceCPU: q("300m"), corev1.ResourceMemory: q("300Mi")},
		}}}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	pod := func(name string, res corev1.ResourceRequirements) *corev1.Pod {
		return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: corev1.PodSpec{
			Containers: []corev1.Container{{Name: "c", Image: "busybox", Resources: res}}}}
	}
	var got *corev1.Pod
	servertest.Wait(t, "a pod with the range's defaults", func(context.Context) (bool, error) {
		_ = ts.Client.CoreV1().Pods("default").Delete(ctx, "defaults", metav1.DeleteOptions{})
		p, err := ts.Client.CoreV1().Pods("default").Create(ctx, pod("defaults", corev1.ResourceRequirements{}), metav1.CreateOptions{})
		if err != nil {
			return false, nil
		}
		got = p
		return p.Spec.Containers[0].Resources.Requests.Cpu().String() == "100m", nil
	})
	r := got.Spec.Containers[0].Resources
	if r.Limits.Cpu().String() != "300m" || r.Requests.Memory().String() != "200Mi" || r.Limits.Memory().String() != "300Mi" {
		t.Errorf("defaulted resources %+v", r)
	}
	if !strings.HasPrefix(got.Annotations["kubernetes.io/limit-ranger"], "LimitRanger plugin set: cpu, memory request for container c; cpu, memory limit for container c") {
		t.Errorf("limit-ranger annotation %q", got.Annotations["kubernetes.io/limit-ranger"])
	}
	_, err := ts.Client.CoreV1().Pods("default").Create(ctx, pod("big", corev1.ResourceRequirements{
		Requests: corev1.ResourceList{corev1.ResourceCPU: q("600m")}, Limits: corev1.ResourceList{corev1.ResourceCPU: q("600m")}}), metav1.CreateOptions{})
	if !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), "maximum cpu usage per Container is 500m, but limit is 600m") {
		t.Errorf("pod above the max: %v, want Forbidden", err)
	}
}
