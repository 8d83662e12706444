package horizontalpodautoscaler

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	"k8s.io/apimachinery/pkg/api/resource"
)

func TestResourceReplicas(t *testing.T) {
	fifty := int32(50)
	util := autoscalingv2.MetricTarget{Type: autoscalingv2.UtilizationMetricType, AverageUtilization: &fifty}
	avg := resource.MustParse("100m")
	value := autoscalingv2.MetricTarget{Type: autoscalingv2.AverageValueMetricType, AverageValue: &avg}
	ready := func(req, use int64) podInfo { return podInfo{ready: true, request: req, usage: use, hasUsage: true} }
	tests := []struct {
		name    string
		current int32
		pods    []podInfo
		target  autoscalingv2.MetricTarget
		want    int32
	}{
		{name: "double load doubles", current: 2, pods: []podInfo{ready(100, 100), ready(100, 100)}, target: util, want: 4},
		{name: "within tolerance", current: 2, pods: []podInfo{ready(100, 54), ready(100, 54)}, target: util, want: 2},
		{name: "half load halves", current: 4, pods: []podInfo{ready(100, 25), ready(100, 25), ready(100, 25), ready(100, 25)}, target: util, want: 2},
		{name: "average value", current: 2, pods: []podInfo{ready(0, 300), ready(0, 300)}, target: value, want: 6},
		{name: "missing pod dampens scale down", current: 3, pods: []podInfo{ready(100, 10), ready(100, 10), {ready: true, request: 100}}, target: util, want: 2},
		{name: "unready pod dampens scale up", current: 2, pods: []podInfo{ready(100, 100), {ready: false, request: 100, usage: 0, hasUsage: true}}, target: util, want: 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, _, _, err := resourceReplicas(tt.current, tt.pods, tt.target, 0.1)
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("replicas = %d, want %d", got, tt.want)
			}
		})
	}
}

func TestNormalize(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 10, 0, 0, time.UTC)
	b := defaultBehavior(nil)
	type res struct {
		Replicas int32
		Reason   string
	}
	tests := []struct {
		name                      string
		current, proposed, mn, mx int32
		recs                      []recommendation
		want                      res
	}{
		{name: "scale up limited by policy", current: 2, proposed: 20, mn: 1, mx: 100, want: res{6, "ScaleUpLimit"}},
		{name: "max replicas", current: 2, proposed: 5, mn: 1, mx: 4, want: res{4, "TooManyReplicas"}},
		{name: "scale down stabilized", current: 5, proposed: 2, mn: 1, mx: 10,
			recs: []recommendation{{at: now.Add(-time.Minute), replicas: 4}}, want: res{4, "DesiredWithinRange"}},
		{name: "old recommendations expire", current: 5, proposed: 2, mn: 1, mx: 10,
			recs: []recommendation{{at: now.Add(-6 * time.Minute), replicas: 4}}, want: res{2, "DesiredWithinRange"}},
		{name: "min replicas", current: 3, proposed: 0, mn: 2, mx: 10, want: res{2, "TooFewReplicas"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n, reason, _ := normalize(tt.current, tt.proposed, tt.mn, tt.mx, b, tt.recs, nil, now)
			if diff := cmp.Diff(tt.want, res{n, reason}); diff != "" {
				t.Errorf("normalize (-want +got):\n%s", diff)
			}
		})
	}
}
