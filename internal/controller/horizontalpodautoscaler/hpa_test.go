package horizontalpodautoscaler_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	"skiff/internal/controller/horizontalpodautoscaler"
	"skiff/internal/server/servertest"
	"skiff/internal/testobj"
)

func TestMain(m *testing.M) { servertest.Main(m) }

// fakeMetrics reports the same CPU usage for every pod once enabled.
type fakeMetrics struct {
	mu  sync.Mutex
	cpu string // "" means no metrics API
}

func (f *fakeMetrics) set(cpu string) { f.mu.Lock(); f.cpu = cpu; f.mu.Unlock() }

func (f *fakeMetrics) PodUsage(_ context.Context, _ string, _ labels.Selector) (map[string]horizontalpodautoscaler.PodMetric, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.cpu == "" {
		return nil, errors.New("the server could not find the requested resource")
	}
	out := map[string]horizontalpodautoscaler.PodMetric{}
	for _, n := range []string{"web-a", "web-b"} {
		// Measured over the last millisecond: after the pods were ready.
		out[n] = horizontalpodautoscaler.PodMetric{Usage: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(f.cpu)},
			Timestamp: time.Now(), Window: time.Millisecond}
	}
	return out, nil
}

func condition(h *autoscalingv2.HorizontalPodAutoscaler, t autoscalingv2.HorizontalPodAutoscalerConditionType) string {
	for _, c := range h.Status.Conditions {
		if c.Type == t {
			return string(c.Status) + "/" + c.Reason
		}
	}
	return ""
}

// TestScalesOnceMetricsExist: without a metrics API the autoscaler only
// reports; once usage is at four times the target it scales up as far as
// the default scale-up policy allows in one step.
func TestScalesOnceMetricsExist(t *testing.T) {
	env := servertest.Start(t, nil)
	ctx := context.Background()
	if _, err := env.CreateNode(ctx, testobj.Node("n1").Capacity("4", "8Gi").Ready().Obj()); err != nil {
		t.Fatal(err)
	}
	env.StartKubelet(t, "n1")
	m := &fakeMetrics{}
	env.RunController(t, horizontalpodautoscaler.NewWithConfig(horizontalpodautoscaler.Config{Metrics: m, SyncPeriod: 100 * time.Millisecond}), nil)

	lbl := map[string]string{"app": "web"}
	two := int32(2)
	req := corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m")}}
	if _, err := env.Client.AppsV1().Deployments("default").Create(ctx, &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "web"},
		Spec: appsv1.DeploymentSpec{Replicas: &two, Selector: &metav1.LabelSelector{MatchLabels: lbl},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: lbl},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "x", Resources: req}}}}},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"web-a", "web-b"} {
		if _, err := env.Client.CoreV1().Pods("default").Create(ctx, &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: n, Labels: lbl},
			Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "x", Resources: req}}},
		}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	fifty := int32(50)
	ten := int32(10)
	if _, err := env.Client.AutoscalingV2().HorizontalPodAutoscalers("default").Create(ctx, &autoscalingv2.HorizontalPodAutoscaler{
		ObjectMeta: metav1.ObjectMeta{Name: "web"},
		Spec: autoscalingv2.HorizontalPodAutoscalerSpec{
			ScaleTargetRef: autoscalingv2.CrossVersionObjectReference{APIVersion: "apps/v1", Kind: "Deployment", Name: "web"},
			MinReplicas:    &two, MaxReplicas: ten,
			Metrics: []autoscalingv2.MetricSpec{{Type: autoscalingv2.ResourceMetricSourceType, Resource: &autoscalingv2.ResourceMetricSource{
				Name: corev1.ResourceCPU, Target: autoscalingv2.MetricTarget{Type: autoscalingv2.UtilizationMetricType, AverageUtilization: &fifty}}}},
		},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	getHPA := func() *autoscalingv2.HorizontalPodAutoscaler {
		h, err := env.Client.AutoscalingV2().HorizontalPodAutoscalers("default").Get(ctx, "web", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return h
	}
	servertest.Wait(t, "ScalingActive=False without metrics", func(context.Context) (bool, error) {
		return condition(getHPA(), autoscalingv2.ScalingActive) == "False/FailedGetResourceMetric", nil
	})
	if d, _ := env.Client.AppsV1().Deployments("default").Get(ctx, "web", metav1.GetOptions{}); *d.Spec.Replicas != 2 {
		t.Fatalf("scaled without metrics to %d", *d.Spec.Replicas)
	}

	m.set("200m") // 200% of the request, four times the target
	servertest.Wait(t, "the deployment to scale to 6", func(context.Context) (bool, error) {
		d, err := env.Client.AppsV1().Deployments("default").Get(ctx, "web", metav1.GetOptions{})
		return err == nil && *d.Spec.Replicas == 6, err
	})
	servertest.Wait(t, "status to report the rescale", func(context.Context) (bool, error) {
		h := getHPA()
		return h.Status.DesiredReplicas == 6 && h.Status.LastScaleTime != nil &&
			condition(h, autoscalingv2.ScalingActive) == "True/ValidMetricFound" &&
			condition(h, autoscalingv2.ScalingLimited) == "True/ScaleUpLimit" &&
			len(h.Status.CurrentMetrics) == 1 && *h.Status.CurrentMetrics[0].Resource.Current.AverageUtilization == 200, nil
	})
}

// TestIntoRangeThenStabilized: a target above maxReplicas is brought back
// into range without any metrics; then a new autoscaler whose pods are
// idle does not scale down at once: it starts its scale-down window with
// the current count, as upstream's does after a restart.
func TestIntoRangeThenStabilized(t *testing.T) {
	env := servertest.Start(t, nil)
	ctx := context.Background()
	if _, err := env.CreateNode(ctx, testobj.Node("n1").Capacity("4", "8Gi").Ready().Obj()); err != nil {
		t.Fatal(err)
	}
	env.StartKubelet(t, "n1")
	m := &fakeMetrics{}
	env.RunController(t, horizontalpodautoscaler.NewWithConfig(horizontalpodautoscaler.Config{Metrics: m, SyncPeriod: 100 * time.Millisecond}), nil)

	lbl := map[string]string{"app": "web"}
	five, one := int32(5), int32(1)
	req := corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m")}}
	if _, err := env.Client.AppsV1().Deployments("default").Create(ctx, &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "web"},
		Spec: appsv1.DeploymentSpec{Replicas: &five, Selector: &metav1.LabelSelector{MatchLabels: lbl},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: lbl},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "x", Resources: req}}}}},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"web-a", "web-b"} {
		if _, err := env.Client.CoreV1().Pods("default").Create(ctx, &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: n, Labels: lbl},
			Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "x", Resources: req}}},
		}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	fifty := int32(50)
	if _, err := env.Client.AutoscalingV2().HorizontalPodAutoscalers("default").Create(ctx, &autoscalingv2.HorizontalPodAutoscaler{
		ObjectMeta: metav1.ObjectMeta{Name: "web"},
		Spec: autoscalingv2.HorizontalPodAutoscalerSpec{
			ScaleTargetRef: autoscalingv2.CrossVersionObjectReference{APIVersion: "apps/v1", Kind: "Deployment", Name: "web"},
			MinReplicas:    &one, MaxReplicas: 3,
			Metrics: []autoscalingv2.MetricSpec{{Type: autoscalingv2.ResourceMetricSourceType, Resource: &autoscalingv2.ResourceMetricSource{
				Name: corev1.ResourceCPU, Target: autoscalingv2.MetricTarget{Type: autoscalingv2.UtilizationMetricType, AverageUtilization: &fifty}}}},
		},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	replicas := func() int32 {
		d, err := env.Client.AppsV1().Deployments("default").Get(ctx, "web", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return *d.Spec.Replicas
	}
	servertest.Wait(t, "the deployment to come down to maxReplicas without metrics", func(context.Context) (bool, error) {
		return replicas() == 3, nil
	})

	m.set("10m") // a fifth of the target: one pod would do
	servertest.Wait(t, "the autoscaler to compute from the metrics", func(context.Context) (bool, error) {
		h, err := env.Client.AutoscalingV2().HorizontalPodAutoscalers("default").Get(ctx, "web", metav1.GetOptions{})
		return err == nil && condition(h, autoscalingv2.ScalingActive) == "True/ValidMetricFound" && h.Status.DesiredReplicas == 3, err
	})
	if n := replicas(); n != 3 {
		t.Errorf("a new autoscaler scaled down to %d before its scale-down window passed", n)
	}
}
