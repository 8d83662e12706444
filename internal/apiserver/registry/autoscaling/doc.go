// Package autoscaling holds horizontalpodautoscalers at autoscaling/v2
// (the storage version) and autoscaling/v1.
//
// The v1 Resource stores through v2. spec.targetCPUUtilizationPercentage
// maps to a cpu Resource metric with a Utilization target, and
// status.currentCPUUtilizationPercentage to that metric's current average
// utilization. What v1 cannot express rides in annotations, as upstream
// does: autoscaling.alpha.kubernetes.io/metrics (the other metric specs),
// .../conditions (status conditions) and .../behavior (spec.behavior). skiff
// writes the metric specs in their autoscaling/v2 JSON form, where upstream
// writes its older v1 MetricSpec form; current values of metrics other than
// cpu are not shown through v1.
package autoscaling
