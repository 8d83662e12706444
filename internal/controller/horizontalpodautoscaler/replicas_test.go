package horizontalpodautoscaler

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestResourceReplicas(t *testing.T) {
	fifty := int32(50)
	util := autoscalingv2.MetricTarget{Type: autoscalingv2.UtilizationMetricType, AverageUtilization: &fifty}
	avg := resource.MustParse("100m")
	value := autoscalingv2.MetricTarget{Type: autoscalingv2.AverageValueMetricType, AverageValue: &avg}
	ready := func(req, use int64) podInfo { return podInfo{state: podReady, request: req, usage: use} }
	tests := []struct {
		name    string
		current int32
		pods    []podInfo
		target  autoscalingv2.MetricTarget
		tol     *tolerances
		want    int32
	}{
		{name: "double load doubles", current: 2, pods: []podInfo{ready(100, 100), ready(100, 100)}, target: util, want: 4},
		{name: "within tolerance", current: 2, pods: []podInfo{ready(100, 54), ready(100, 54)}, target: util, want: 2},
		{name: "half load halves", current: 4, pods: []podInfo{ready(100, 25), ready(100, 25), ready(100, 25), ready(100, 25)}, target: util, want: 2},
		{name: "average value", current: 2, pods: []podInfo{ready(0, 300), ready(0, 300)}, target: value, want: 6},
		{name: "missing pod dampens scale down", current: 3, pods: []podInfo{ready(100, 10), ready(100, 10), {state: podMissing, request: 100}}, target: util, want: 2},
		{name: "missing pod dampens scale up", current: 2, pods: []podInfo{ready(100, 100), {state: podMissing, request: 100}}, target: util, want: 2},
		{name: "unready pod dampens scale up", current: 2, pods: []podInfo{ready(100, 100), {state: podUnready, request: 100}}, target: util, want: 2},
		// 300% on the one ready pod is 6 times the target; with the two
		// unready ones idle, 300m of 300m requested is twice the target:
		// ceil(2*3) = 6.
		{name: "unready pods count as idle", current: 3, pods: []podInfo{ready(100, 300), {state: podUnready, request: 100}, {state: podUnready, request: 100}}, target: util, want: 6},
		// Unready pods do not hold a scale down back: 10% of the target
		// on the ready pod, ceil(0.2*1) = 1.
		{name: "unready pods ignored scaling down", current: 3, pods: []podInfo{ready(100, 10), {state: podUnready, request: 100}, {state: podUnready, request: 100}}, target: util, want: 1},
		// 54.9% is 54% (whole percent), 1.08 times the target: within.
		{name: "utilization in whole percent", current: 4, pods: []podInfo{ready(1000, 549), ready(1000, 549), ready(1000, 549), ready(1000, 549)}, target: util, want: 4},
		// The behavior's own tolerances: 20% up is within 0.25; 10% down
		// (within the default 0.1) is not within 0.05: ceil(0.9*10).
		{name: "scale up tolerance", current: 4, pods: []podInfo{ready(100, 60), ready(100, 60), ready(100, 60), ready(100, 60)}, target: util, tol: &tolerances{down: 0.05, up: 0.25}, want: 4},
		{name: "scale down tolerance", current: 10, pods: slices.Repeat([]podInfo{ready(100, 45)}, 10), target: util, tol: &tolerances{down: 0.05, up: 0.25}, want: 9},
		{name: "default tolerance", current: 10, pods: slices.Repeat([]podInfo{ready(100, 45)}, 10), target: util, want: 10},
		{name: "just beyond tolerance", current: 4, pods: []podInfo{ready(100, 56), ready(100, 56), ready(100, 56), ready(100, 56)}, target: util, want: 5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tol := tolerances{down: 0.1, up: 0.1}
			if tt.tol != nil {
				tol = *tt.tol
			}
			got, _, _, err := resourceReplicas(tt.current, tt.pods, tt.target, tol)
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
	i32 := func(v int32) *int32 { return &v }
	onePod := []autoscalingv2.HPAScalingPolicy{{Type: autoscalingv2.PodsScalingPolicy, Value: 1, PeriodSeconds: 15}}
	onePodPer15s := defaultBehavior(&autoscalingv2.HorizontalPodAutoscalerBehavior{
		ScaleUp:   &autoscalingv2.HPAScalingRules{Policies: onePod},
		ScaleDown: &autoscalingv2.HPAScalingRules{Policies: onePod, StabilizationWindowSeconds: i32(0)},
	})
	upWindow := defaultBehavior(&autoscalingv2.HorizontalPodAutoscalerBehavior{ScaleUp: &autoscalingv2.HPAScalingRules{StabilizationWindowSeconds: i32(60)}})
	type res struct {
		Replicas int32
		Reason   string
	}
	tests := []struct {
		name                      string
		current, proposed, mn, mx int32
		recs                      []recommendation
		events                    []scaleEvent
		b                         autoscalingv2.HorizontalPodAutoscalerBehavior
		want                      res
	}{
		{name: "scale up limited by policy", current: 2, proposed: 20, mn: 1, mx: 100, want: res{6, "ScaleUpLimit"}},
		{name: "max replicas", current: 2, proposed: 5, mn: 1, mx: 4, want: res{4, "TooManyReplicas"}},
		{name: "scale down stabilized", current: 5, proposed: 2, mn: 1, mx: 10,
			recs: []recommendation{{at: now.Add(-time.Minute), replicas: 4}}, want: res{4, "DesiredWithinRange"}},
		{name: "old recommendations expire", current: 5, proposed: 2, mn: 1, mx: 10,
			recs: []recommendation{{at: now.Add(-6 * time.Minute), replicas: 4}}, want: res{2, "DesiredWithinRange"}},
		{name: "min replicas", current: 3, proposed: 0, mn: 2, mx: 10, want: res{2, "TooFewReplicas"}},
		// 4 pods were added 10 s ago and the policy allows 1 per 15 s:
		// the limit (current-4+1) is below the current count, which
		// stays, rather than going down.
		{name: "spent scale up budget holds", current: 6, proposed: 9, mn: 1, mx: 10, b: onePodPer15s,
			events: []scaleEvent{{at: now.Add(-10 * time.Second), delta: 4}}, want: res{6, "ScaleUpLimit"}},
		{name: "spent scale down budget holds", current: 2, proposed: 1, mn: 1, mx: 10, b: onePodPer15s,
			events: []scaleEvent{{at: now.Add(-10 * time.Second), delta: -4}}, want: res{2, "ScaleDownLimit"}},
		{name: "scale up budget renewed", current: 6, proposed: 9, mn: 1, mx: 10, b: onePodPer15s,
			events: []scaleEvent{{at: now.Add(-20 * time.Second), delta: 4}}, want: res{7, "ScaleUpLimit"}},
		// 2 pods removed 10 s ago: the period began at 5, one more
		// than that is 6.
		{name: "scale up budget from the period's start", current: 3, proposed: 9, mn: 1, mx: 10, b: onePodPer15s,
			events: []scaleEvent{{at: now.Add(-10 * time.Second), delta: -2}}, want: res{6, "ScaleUpLimit"}},
		// maxReplicas below the policy's limit names the bound.
		{name: "max below the rate limit", current: 2, proposed: 9, mn: 1, mx: 3, b: onePodPer15s, want: res{3, "TooManyReplicas"}},
		{name: "up window holds a scale up", current: 2, proposed: 5, mn: 1, mx: 10, b: upWindow,
			recs: []recommendation{{at: now.Add(-30 * time.Second), replicas: 3}}, want: res{3, "DesiredWithinRange"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := tt.b
			if b.ScaleUp == nil {
				b = defaultBehavior(nil)
			}
			n, reason, _ := normalize(tt.current, tt.proposed, tt.mn, tt.mx, b, tt.recs, tt.events, now)
			if diff := cmp.Diff(tt.want, res{n, reason}); diff != "" {
				t.Errorf("normalize (-want +got):\n%s", diff)
			}
		})
	}
}

func TestClassify(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 10, 0, 0, time.UTC)
	at := func(d time.Duration) metav1.Time { return metav1.NewTime(now.Add(d)) }
	pod := func(phase corev1.PodPhase, started *metav1.Time, ready corev1.ConditionStatus, changed metav1.Time) *corev1.Pod {
		p := &corev1.Pod{Status: corev1.PodStatus{Phase: phase, StartTime: started}}
		if ready != "" {
			p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: ready, LastTransitionTime: changed}}
		}
		return p
	}
	started := func(d time.Duration) *metav1.Time { t := at(d); return &t }
	// A 15 s window ending now.
	fresh := PodMetric{Timestamp: now, Window: 15 * time.Second}
	tests := []struct {
		name string
		pod  *corev1.Pod
		res  corev1.ResourceName
		m    PodMetric
		ok   bool
		want podState
	}{
		{name: "pending", pod: pod(corev1.PodPending, nil, "", metav1.Time{}), res: corev1.ResourceCPU, m: fresh, ok: true, want: podUnready},
		{name: "pending without metrics", pod: pod(corev1.PodPending, nil, "", metav1.Time{}), res: corev1.ResourceCPU, want: podUnready},
		{name: "running without metrics", pod: pod(corev1.PodRunning, started(-time.Hour), corev1.ConditionTrue, at(-time.Hour)), res: corev1.ResourceCPU, want: podMissing},
		{name: "no readiness yet", pod: pod(corev1.PodRunning, started(-time.Minute), "", metav1.Time{}), res: corev1.ResourceCPU, m: fresh, ok: true, want: podUnready},
		{name: "young and ready for long enough", pod: pod(corev1.PodRunning, started(-time.Minute), corev1.ConditionTrue, at(-20*time.Second)), res: corev1.ResourceCPU, m: fresh, ok: true, want: podReady},
		// The window began 15 s ago, before the pod became ready 10 s ago.
		{name: "young, window before ready", pod: pod(corev1.PodRunning, started(-time.Minute), corev1.ConditionTrue, at(-10*time.Second)), res: corev1.ResourceCPU, m: fresh, ok: true, want: podUnready},
		{name: "young and not ready", pod: pod(corev1.PodRunning, started(-time.Minute), corev1.ConditionFalse, at(-time.Minute)), res: corev1.ResourceCPU, m: fresh, ok: true, want: podUnready},
		// Past the initialization period: a pod that was ready once
		// counts, one that never was does not.
		{name: "old, unready after being ready", pod: pod(corev1.PodRunning, started(-time.Hour), corev1.ConditionFalse, at(-time.Minute)), res: corev1.ResourceCPU, m: fresh, ok: true, want: podReady},
		{name: "old, never ready", pod: pod(corev1.PodRunning, started(-time.Hour), corev1.ConditionFalse, at(-time.Hour+10*time.Second)), res: corev1.ResourceCPU, m: fresh, ok: true, want: podUnready},
		{name: "memory does not depend on readiness", pod: pod(corev1.PodRunning, started(-time.Minute), corev1.ConditionFalse, at(-time.Minute)), res: corev1.ResourceMemory, m: fresh, ok: true, want: podReady},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := classify(tt.pod, tt.res, tt.m, tt.ok, now, 5*time.Minute, 30*time.Second); got != tt.want {
				t.Errorf("classify = %d, want %d", got, tt.want)
			}
		})
	}
}

func TestRequestOf(t *testing.T) {
	always := corev1.ContainerRestartPolicyAlways
	cpu := func(v string) corev1.ResourceRequirements {
		return corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(v)}}
	}
	tests := []struct {
		name    string
		spec    corev1.PodSpec
		want    int64
		wantErr bool
	}{
		{name: "containers", spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "a", Resources: cpu("100m")}, {Name: "b", Resources: cpu("50m")}}}, want: 150},
		{name: "a sidecar counts, an init container does not",
			spec: corev1.PodSpec{InitContainers: []corev1.Container{{Name: "init", Resources: cpu("1")}, {Name: "side", RestartPolicy: &always, Resources: cpu("20m")}},
				Containers: []corev1.Container{{Name: "a", Resources: cpu("100m")}}}, want: 120},
		{name: "a container without a request", spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "a", Resources: cpu("100m")}, {Name: "b"}}}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := requestOf(&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p"}, Spec: tt.spec}, corev1.ResourceCPU)
			if tt.wantErr {
				if !errors.Is(err, ErrMissingRequest) {
					t.Errorf("requestOf = %d, %v; want ErrMissingRequest", got, err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Errorf("requestOf = %d, %v; want %d", got, err, tt.want)
			}
		})
	}
}

func TestTolerancesOf(t *testing.T) {
	q := resource.MustParse("0.05")
	b := &autoscalingv2.HorizontalPodAutoscalerBehavior{ScaleUp: &autoscalingv2.HPAScalingRules{Tolerance: &q}}
	if diff := cmp.Diff(tolerances{down: 0.1, up: 0.05}, tolerancesOf(b, 0.1), cmp.AllowUnexported(tolerances{})); diff != "" {
		t.Errorf("tolerances (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(tolerances{down: 0.1, up: 0.1}, tolerancesOf(nil, 0.1), cmp.AllowUnexported(tolerances{})); diff != "" {
		t.Errorf("default tolerances (-want +got):\n%s", diff)
	}
}
