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

// podState is how a pod's sample counts in the calculation.
type podState int

const (
	// podReady: its usage counts as measured.
	podReady podState = iota
	// podUnready: pending, or (for cpu) not ready long enough for its
	// usage to mean anything; it counts as idle, and only to dampen a
	// scale up.
	podUnready
	// podMissing: running without a metric; it counts against the
	// direction of change (at the target when scaling down, idle when
	// scaling up).
	podMissing
)

// podInfo is what the calculation needs of one pod.
type podInfo struct {
	state   podState
	request int64 // milli-units of the resource requested
	usage   int64 // milli-units used
}

// classify tells how the sample of pod p (ok: there is one, m) counts,
// upstream's way. A pending pod is unready. A cpu sample of a pod within
// cpuInit of its start counts only when the pod is ready and the sample's
// whole window is after it became so; later, it is discarded only for a
// pod that is not ready and has never been (its readiness last changed
// within readinessDelay of its start). Other resources do not depend on
// readiness.
func classify(p *corev1.Pod, res corev1.ResourceName, m PodMetric, ok bool, now time.Time, cpuInit, readinessDelay time.Duration) podState {
	if p.Status.Phase == corev1.PodPending {
		return podUnready
	}
	if !ok {
		return podMissing
	}
	if res != corev1.ResourceCPU {
		return podReady
	}
	var cond *corev1.PodCondition
	for i := range p.Status.Conditions {
		if p.Status.Conditions[i].Type == corev1.PodReady {
			cond = &p.Status.Conditions[i]
		}
	}
	if cond == nil || p.Status.StartTime == nil {
		return podUnready
	}
	start := p.Status.StartTime.Time
	if start.Add(cpuInit).After(now) {
		if cond.Status == corev1.ConditionFalse || m.Timestamp.Before(cond.LastTransitionTime.Add(m.Window)) {
			return podUnready
		}
		return podReady
	}
	if cond.Status == corev1.ConditionFalse && start.Add(readinessDelay).After(cond.LastTransitionTime.Time) {
		return podUnready
	}
	return podReady
}

// resourceReplicas computes the replica count for one Resource metric
// target, upstream's way. It returns the count and the current average
// utilization (percent) and average value (milli-units).
func resourceReplicas(current int32, pods []podInfo, target autoscalingv2.MetricTarget, tol tolerances) (replicas int32, utilization int32, avgValue int64, err error) {
	var ready []podInfo
	var missing, unready int
	for _, p := range pods {
		switch p.state {
		case podMissing:
			missing++
		case podUnready:
			unready++
		default:
			ready = append(ready, p)
		}
	}
	if len(ready) == 0 {
		return current, 0, 0, errors.New("did not receive metrics for targeted pods (pods might be unready)")
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
			// Whole percent, as upstream computes it.
			util := usage * 100 / request
			return float64(util) / float64(*target.AverageUtilization), nil
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
	// Unready pods matter only to a scale up, missing ones either way.
	if missing == 0 && (unready == 0 || ratio <= 1) {
		if tol.within(ratio) {
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
		case p.state == podMissing:
			if ratio < 1 {
				usage += perPodTarget(p)
			}
			request += p.request
			n++
		case p.state == podUnready && ratio > 1:
			request += p.request
			n++
		}
	}
	newRatio, err := ratioOf(usage, request, n)
	if err != nil {
		return current, utilization, avgValue, err
	}
	if tol.within(newRatio) || (ratio < 1) != (newRatio < 1) {
		return current, utilization, avgValue, nil
	}
	desired := int32(math.Ceil(newRatio * float64(n)))
	if newRatio < 1 && desired > current || newRatio > 1 && desired < current {
		return current, utilization, avgValue, nil
	}
	return desired, utilization, avgValue, nil
}

// tolerances are how far below and above 1 a usage ratio may be without
// a change of scale.
type tolerances struct{ down, up float64 }

// within reports whether ratio calls for no change.
func (t tolerances) within(ratio float64) bool {
	return 1-t.down <= ratio && ratio <= 1+t.up
}

// tolerancesOf are the behavior's own scale down and scale up
// tolerances, where it sets them, else def.
func tolerancesOf(b *autoscalingv2.HorizontalPodAutoscalerBehavior, def float64) tolerances {
	t := tolerances{down: def, up: def}
	if b == nil {
		return t
	}
	if b.ScaleDown != nil && b.ScaleDown.Tolerance != nil {
		t.down = b.ScaleDown.Tolerance.AsApproximateFloat64()
	}
	if b.ScaleUp != nil && b.ScaleUp.Tolerance != nil {
		t.up = b.ScaleUp.Tolerance.AsApproximateFloat64()
	}
	return t
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
	// The rate policies and the bounds: a scale up never goes beyond
	// the lower of maxReplicas and the policies' limit (never below the
	// current count), a scale down never below the higher of
	// minReplicas and the policies' limit (never above the current
	// count). The reason names the bound that applied.
	switch {
	case desired > current:
		limit := max(scaleUpLimit(current, b.ScaleUp, events, now), current)
		allowed, reason, msg := maxR, "TooManyReplicas", "the desired replica count is more than the maximum replica count"
		if allowed > limit {
			allowed, reason, msg = limit, "ScaleUpLimit", "the desired replica count is increasing faster than the maximum scale rate"
		}
		if desired > allowed {
			return allowed, reason, msg
		}
	case desired < current:
		limit := min(scaleDownLimit(current, b.ScaleDown, events, now), current)
		allowed, reason, msg := minR, "TooFewReplicas", "the desired replica count is less than the minimum replica count"
		if allowed < limit {
			allowed, reason, msg = limit, "ScaleDownLimit", "the desired replica count is decreasing faster than the maximum scale rate"
		}
		if desired < allowed {
			return allowed, reason, msg
		}
	}
	return desired, "DesiredWithinRange", "the desired count is within the acceptable range"
}

// changedIn is the net change of the replica count over the last period
// seconds: what was added less what was removed. A policy's budget runs
// from the count at the period's start, current less that change, so
// that a scale down and up within one period do not add up to more than
// the policy allows.
func changedIn(events []scaleEvent, period int32, now time.Time) int32 {
	cut := now.Add(-time.Duration(period) * time.Second)
	var n int32
	for _, e := range events {
		if e.at.After(cut) {
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
		start := current - changedIn(events, p.PeriodSeconds, now)
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
		start := current - changedIn(events, p.PeriodSeconds, now)
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

// requestOf returns a pod's request for a resource in milli-units: the
// sum of its containers' and its sidecars' (init containers that keep
// running). A container without one makes utilization meaningless, an
// ErrMissingRequest.
func requestOf(p *corev1.Pod, name corev1.ResourceName) (int64, error) {
	var sum int64
	add := func(c corev1.Container) error {
		q, ok := c.Resources.Requests[name]
		if !ok {
			return fmt.Errorf("missing request for %s in container %s of Pod %s: %w", name, c.Name, p.Name, ErrMissingRequest)
		}
		sum += q.MilliValue()
		return nil
	}
	for _, c := range p.Spec.InitContainers {
		if c.RestartPolicy != nil && *c.RestartPolicy == corev1.ContainerRestartPolicyAlways {
			if err := add(c); err != nil {
				return 0, err
			}
		}
	}
	for _, c := range p.Spec.Containers {
		if err := add(c); err != nil {
			return 0, err
		}
	}
	return sum, nil
}
