// Package horizontalpodautoscaler scales workloads (anything with a scale
// subresource among Deployments, ReplicaSets, StatefulSets and
// ReplicationControllers) after the pod resource metrics of the
// metrics.k8s.io API, as autoscaling/v2 HorizontalPodAutoscalers ask.
//
// Every sync period (15 s, --horizontal-pod-autoscaler-sync-period) per
// autoscaler:
//
//	scale      read the target's scale subresource (replicas, selector);
//	           a count outside [minReplicas, maxReplicas] is brought back
//	           into range at once, without metrics
//	metrics    read PodMetrics for the selector; for each Resource metric
//	           compute a replica count with upstream's formula:
//	             ratio = utilization in whole percent / target; within
//	             tolerance (0.1, or the behavior's scaleUp/scaleDown
//	             tolerance) keep the count, else ceil(ratio * ready
//	             pods). Pending pods, and for cpu pods in their first 5
//	             minutes not ready or measured over a window that began
//	             before they were ready (later: never ready), are
//	             unready: idle, and only when scaling up. Running pods
//	             without metrics count at the target when scaling down,
//	             idle when scaling up. A rebalanced ratio that changes
//	             direction, or falls within tolerance, keeps the count.
//	normalize  the largest recommendation, stabilized over the behavior's
//	           windows (scale down: the highest recommendation of the last
//	           300 s; a new autoscaler starts the window with the current
//	           count), limited by the scaling policies (never past the
//	           current count in the other direction) and min/maxReplicas
//	act        update the scale; write status and the conditions
//	           AbleToScale, ScalingActive and ScalingLimited
//
// Without a metrics API the controller does nothing but report
// ScalingActive=False; it acts as soon as one answers. Only Resource
// metrics are computed; Pods, Object, External and ContainerResource
// metrics are reported as unsupported.
package horizontalpodautoscaler
