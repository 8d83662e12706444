package autoscaling

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func int32Ptr(v int32) *int32 { return &v }

func TestV2Defaults(t *testing.T) {
	h := &autoscalingv2.HorizontalPodAutoscaler{Spec: autoscalingv2.HorizontalPodAutoscalerSpec{
		Behavior: &autoscalingv2.HorizontalPodAutoscalerBehavior{},
	}}
	Resources()[0].Strategy.Default(h)
	if *h.Spec.MinReplicas != 1 || !isCPUUtilization(h.Spec.Metrics[0]) || *h.Spec.Metrics[0].Resource.Target.AverageUtilization != 80 {
		t.Errorf("defaults: %+v", h.Spec)
	}
	up, down := h.Spec.Behavior.ScaleUp, h.Spec.Behavior.ScaleDown
	if len(up.Policies) != 2 || *up.StabilizationWindowSeconds != 0 || len(down.Policies) != 1 || down.StabilizationWindowSeconds != nil ||
		*down.SelectPolicy != autoscalingv2.MaxChangePolicySelect {
		t.Errorf("behavior defaults: up %+v down %+v", up, down)
	}
}

func TestV2Validate(t *testing.T) {
	s := Resources()[0].Strategy
	h := &autoscalingv2.HorizontalPodAutoscaler{Spec: autoscalingv2.HorizontalPodAutoscalerSpec{
		MinReplicas: int32Ptr(5), MaxReplicas: 2,
		Metrics: []autoscalingv2.MetricSpec{{Type: autoscalingv2.PodsMetricSourceType}},
	}}
	var got []string
	for _, e := range s.Validate(h) {
		got = append(got, e.Field+": "+e.Detail)
	}
	want := []string{
		"spec.scaleTargetRef.kind: ",
		"spec.scaleTargetRef.name: ",
		"spec.maxReplicas: must be greater than or equal to `minReplicas`",
		"spec.metrics[0]: must populate information for the given metric source (only one)",
		"spec.metrics[0].pods: must populate information for the given metric source",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("errors (-want +got):\n%s", diff)
	}
}

func TestV1Conversion(t *testing.T) {
	r := Resources()[1]
	v1 := &autoscalingv1.HorizontalPodAutoscaler{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default"},
		Spec: autoscalingv1.HorizontalPodAutoscalerSpec{
			ScaleTargetRef:                 autoscalingv1.CrossVersionObjectReference{Kind: "Deployment", Name: "web", APIVersion: "apps/v1"},
			MaxReplicas:                    10,
			TargetCPUUtilizationPercentage: int32Ptr(50),
		},
	}
	r.Strategy.Default(v1)
	if errs := r.Strategy.Validate(v1); len(errs) != 0 {
		t.Fatalf("valid v1 HPA rejected: %v", errs)
	}
	stored, err := r.ToStorage(v1)
	if err != nil {
		t.Fatal(err)
	}
	v2 := stored.(*autoscalingv2.HorizontalPodAutoscaler)
	if len(v2.Spec.Metrics) != 1 || *v2.Spec.Metrics[0].Resource.Target.AverageUtilization != 50 || *v2.Spec.MinReplicas != 1 {
		t.Errorf("v2 form: %+v", v2.Spec)
	}

	// Status and a second metric written through v2 show through v1.
	mem := resource.MustParse("100Mi")
	v2.Spec.Metrics = append(v2.Spec.Metrics, autoscalingv2.MetricSpec{Type: autoscalingv2.ResourceMetricSourceType,
		Resource: &autoscalingv2.ResourceMetricSource{Name: corev1.ResourceMemory, Target: autoscalingv2.MetricTarget{Type: autoscalingv2.AverageValueMetricType, AverageValue: &mem}}})
	v2.Status = autoscalingv2.HorizontalPodAutoscalerStatus{
		CurrentReplicas: 3,
		CurrentMetrics: []autoscalingv2.MetricStatus{{Type: autoscalingv2.ResourceMetricSourceType,
			Resource: &autoscalingv2.ResourceMetricStatus{Name: corev1.ResourceCPU, Current: autoscalingv2.MetricValueStatus{AverageUtilization: int32Ptr(42)}}}},
		Conditions: []autoscalingv2.HorizontalPodAutoscalerCondition{{Type: autoscalingv2.AbleToScale, Status: corev1.ConditionTrue, Reason: "ReadyForNewScale"}},
	}
	back, err := r.FromStorage(v2)
	if err != nil {
		t.Fatal(err)
	}
	got := back.(*autoscalingv1.HorizontalPodAutoscaler)
	if *got.Spec.TargetCPUUtilizationPercentage != 50 || *got.Status.CurrentCPUUtilizationPercentage != 42 ||
		got.Annotations[MetricsAnnotation] == "" || got.Annotations[ConditionsAnnotation] == "" {
		t.Errorf("v1 form: %+v", got)
	}
	again, err := r.ToStorage(got)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(v2, again.(*autoscalingv2.HorizontalPodAutoscaler)); diff != "" {
		t.Errorf("v2 -> v1 -> v2 (-want +got):\n%s", diff)
	}

	row := r.Strategy.TableRow(got)
	want := []interface{}{"Deployment/web", "cpu: 42%/50%, memory: <unknown>/100Mi", "1", int64(10), int64(3), "<unknown>"}
	if diff := cmp.Diff(want, row); diff != "" {
		t.Errorf("row (-want +got):\n%s", diff)
	}
}
