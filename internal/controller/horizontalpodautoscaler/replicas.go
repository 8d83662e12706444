package horizontalpodautoscaler

import (
	"errors"
	"fmt"
	"math"
	"time"

	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
)

// ErrMissingRequest reports a pod without a request for the resource a
// Utilization target is relative to.
var ErrMissingRequest = errors.New("missing request")

// podInfo is what the calculation needs of one pod.
type podInfo struct {
	ready    bool
	request  int64 // milli-units of the resource requested
	usage    int64 // milli-units used
	hasUsage bool
}

// resourceReplicas computes the replica count for one Resource metric
// target, upstream's way. It returns the count and the current average
// utilization (percent) and average value (milli-units).
func resourceReplicas(current int32, pods []podInfo, target autoscalingv2.MetricTarget, tolerance float64) (replicas int32, utilization int32, avgValue int64, err error) {
	var ready []podInfo
	var missing, unready int
	for _, p := range pods {
		switch {
		case !p.hasUsage:
			missing++
		case !p.ready:
			unready++
		default:
			ready = append(ready, p)
		}
	}
	if len(ready) == 0 {
		return current, 0, 0, errors.New("no metrics returned from resource metrics API")
	}
	var usage, request int64
	for _, p := range ready {
		usage += p.usage
		request += p.request
	}
	ratioOf := func(usage, request int64, n int) (float64, error) {
		switch target.Type {
		case autoscalingv2.UtilizationMetricType:
			if request == 0 || target.AverageUtilization == nil {
				return 0, fmt.Errorf("compute utilization: %w", ErrMissingRequest)
			}
			util := float64(usage) * 100 / float64(request)
			return util / float64(*target.AverageUtilization), nil
		case autoscalingv2.AverageValueMetricType:
			if target.AverageValue == nil || target.AverageValue.MilliValue() == 0 {
				return 0, errors.New("compute average value: no target value")
			}
			return float64(usage) / float64(n) / float64(target.AverageValue.MilliValue()), nil
		}
		return 0, fmt.Errorf("unsupported target type %q", target.Type)
	}
	for _, p := range ready {
		if target.Type == autoscalingv2.UtilizationMetricType && p.request == 0 {
			return current, 0, 0, fmt.Errorf("compute utilization: %w", ErrMissingRequest)
		}
	}
	ratio, err := ratioOf(usage, request, len(ready))
	if err != nil {
		return current, 0, 0, err
	}
	if request > 0 {
		utilization = int32(usage * 100 / request)
	}
	avgValue = usage / int64(len(ready))
	if missing == 0 && unready == 0 {
		if math.Abs(1-ratio) <= tolerance {
			return current, utilization, avgValue, nil
		}
		return int32(math.Ceil(ratio * float64(len(ready)))), utilization, avgValue, nil
	}
	// Pods without metrics count against the direction of change; not
	// ready pods only dampen a scale up.
	n := len(ready)
	perPodTarget := func(p podInfo) int64 {
		if target.Type == autoscalingv2.UtilizationMetricType {
			return p.request * int64(*target.AverageUtilization) / 100
		}
		return target.AverageValue.MilliValue()
	}
	for _, p := range pods {
		switch {
		case !p.hasUsage:
			if ratio < 1 {
				usage += perPodTarget(p)
			}
			request += p.request
			n++
		case !p.ready && ratio > 1:
			request += p.request
			n++
		}
	}
	newRatio, err := ratioOf(usage, request, n)
	if err != nil {
		return current, utilization, avgValue, err
	}
	if math.Abs(1-newRatio) <= tolerance || (ratio < 1) != (newRatio < 1) {
		return current, utilization, avgValue, nil
	}
	desired := int32(math.Ceil(newRatio * float64(n)))
	if newRatio < 1 && desired > current || newRatio > 1 && desired < current {
		return current, utilization, avgValue, nil
	}
	return desired, utilization, avgValue, nil
}

// recommendation is one computed replica count, kept for stabilization.
type recommendation struct {
	at       time.Time
	replicas int32
}

// scaleEvent is one change this controller made, kept for rate policies.
type scaleEvent struct {
	at    time.Time
	delta int32
}

// defaultBehavior returns upstream's defaults for unset behavior fields.
func defaultBehavior(b *autoscalingv2.HorizontalPodAutoscalerBehavior) autoscalingv2.HorizontalPodAutoscalerBehavior {
	i32 := func(v int32) *int32 { return &v }
	maxPolicy := autoscalingv2.MaxChangePolicySelect
	out := autoscalingv2.HorizontalPodAutoscalerBehavior{
		ScaleUp: &autoscalingv2.HPAScalingRules{StabilizationWindowSeconds: i32(0), SelectPolicy: &maxPolicy,
			Policies: []autoscalingv2.HPAScalingPolicy{
				{Type: autoscalingv2.PodsScalingPolicy, Value: 4, PeriodSeconds: 15},
				{Type: autoscalingv2.PercentScalingPolicy, Value: 100, PeriodSeconds: 15}}},
		ScaleDown: &autoscalingv2.HPAScalingRules{StabilizationWindowSeconds: i32(300), SelectPolicy: &maxPolicy,
			Policies: []autoscalingv2.HPAScalingPolicy{{Type: autoscalingv2.PercentScalingPolicy, Value: 100, PeriodSeconds: 15}}},
	}
	if b == nil {
		return out
	}
	merge := func(dst *autoscalingv2.HPAScalingRules, src *autoscalingv2.HPAScalingRules) {
		if src == nil {
			return
		}
		if src.StabilizationWindowSeconds != nil {
			dst.StabilizationWindowSeconds = src.StabilizationWindowSeconds
		}
		if src.SelectPolicy != nil {
			dst.SelectPolicy = src.SelectPolicy
		}
		if len(src.Policies) > 0 {
			dst.Policies = src.Policies
		}
		if src.Tolerance != nil {
			dst.Tolerance = src.Tolerance
		}
	}
	merge(out.ScaleUp, b.ScaleUp)
	merge(out.ScaleDown, b.ScaleDown)
	return out
}

// normalize applies stabilization, rate policies and min/max. It returns
// the replicas to set and the ScalingLimited reason and message.
func normalize(current, proposed, minR, maxR int32, b autoscalingv2.HorizontalPodAutoscalerBehavior, recs []recommendation, events []scaleEvent, now time.Time) (int32, string, string) {
	up, down := proposed, proposed
	upCut := now.Add(-time.Duration(*b.ScaleUp.StabilizationWindowSeconds) * time.Second)
	downCut := now.Add(-time.Duration(*b.ScaleDown.StabilizationWindowSeconds) * time.Second)
	for _, r := range recs {
		if r.at.After(upCut) {
			up = min(up, r.replicas)
		}
		if r.at.After(downCut) {
			down = max(down, r.replicas)
		}
	}
	desired := current
	if desired < up {
		desired = up
	}
	if desired > down {
		desired = down
	}
	reason, msg := "DesiredWithinRange", "the desired count is within the acceptable range"
	if desired > current {
		limit := scaleUpLimit(current, b.ScaleUp, events, now)
		if desired > limit {
			desired, reason, msg = limit, "ScaleUpLimit", "the desired replica count is increasing faster than the maximum scale rate"
		}
	} else if desired < current {
		limit := scaleDownLimit(current, b.ScaleDown, events, now)
		if desired < limit {
			desired, reason, msg = limit, "ScaleDownLimit", "the desired replica count is decreasing faster than the maximum scale rate"
		}
	}
	if desired > maxR {
		desired, reason, msg = maxR, "TooManyReplicas", "the desired replica count is more than the maximum replica count"
	}
	if desired < minR {
		desired, reason, msg = minR, "TooFewReplicas", "the desired replica count is less than the minimum replica count"
	}
	return desired, reason, msg
}

func changedIn(events []scaleEvent, period int32, now time.Time, up bool) int32 {
	cut := now.Add(-time.Duration(period) * time.Second)
	var n int32
	for _, e := range events {
		if e.at.After(cut) && (e.delta > 0) == up {
			n += e.delta
		}
	}
	return n
}

func scaleUpLimit(current int32, r *autoscalingv2.HPAScalingRules, events []scaleEvent, now time.Time) int32 {
	if r.SelectPolicy != nil && *r.SelectPolicy == autoscalingv2.DisabledPolicySelect {
		return current
	}
	selMin := r.SelectPolicy != nil && *r.SelectPolicy == autoscalingv2.MinChangePolicySelect
	var limit int32 = -1
	for _, p := range r.Policies {
		start := current - changedIn(events, p.PeriodSeconds, now, true)
		var l int32
		if p.Type == autoscalingv2.PodsScalingPolicy {
			l = start + p.Value
		} else {
			l = int32(math.Ceil(float64(start) * (1 + float64(p.Value)/100)))
		}
		if limit < 0 || !selMin && l > limit || selMin && l < limit {
			limit = l
		}
	}
	if limit < 0 {
		return math.MaxInt32
	}
	return limit
}

func scaleDownLimit(current int32, r *autoscalingv2.HPAScalingRules, events []scaleEvent, now time.Time) int32 {
	if r.SelectPolicy != nil && *r.SelectPolicy == autoscalingv2.DisabledPolicySelect {
		return current
	}
	selMin := r.SelectPolicy != nil && *r.SelectPolicy == autoscalingv2.MinChangePolicySelect
	var limit int32 = math.MaxInt32
	first := true
	for _, p := range r.Policies {
		start := current - changedIn(events, p.PeriodSeconds, now, false) // deltas are negative
		var l int32
		if p.Type == autoscalingv2.PodsScalingPolicy {
			l = start - p.Value
		} else {
			l = int32(math.Floor(float64(start) * (1 - float64(p.Value)/100)))
		}
		if first || !selMin && l < limit || selMin && l > limit {
			limit = l
		}
		first = false
	}
	if first {
		return 0
	}
	return limit
}

// requestOf returns a pod's request for a resource in milli-units.
func requestOf(p *corev1.Pod, name corev1.ResourceName) int64 {
	var sum int64
	for _, c := range p.Spec.Containers {
		if q, ok := c.Resources.Requests[name]; ok {
			sum += q.MilliValue()
		}
	}
	return sum
}
