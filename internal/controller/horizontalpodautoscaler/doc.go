// Package horizontalpodautoscaler scales workloads (anything with a scale
// subresource among Deployments, ReplicaSets, StatefulSets and
// ReplicationControllers) after the pod resource metrics of the
// metrics.k8s.io API, as autoscaling/v2 HorizontalPodAutoscalers ask.
//
// Every sync period (15 s) per autoscaler:
//
//	scale      read the target's scale subresource (replicas, selector)
//	metrics    read PodMetrics for the selector; for each Resource metric
//	           compute a replica count with upstream's formula:
//	             ratio = current / target; within tolerance (0.1) keep the
//	             count, else ceil(ratio * pods with metrics), treating pods
//	             without metrics as 100% (scale down) or 0% (scale up) and
//	             not-ready pods as 0% when scaling up
//	normalize  the largest recommendation, stabilized over the behavior's
//	           windows (scale down: the highest recommendation of the last
//	           300 s), limited by the scaling policies and min/maxReplicas
//	act        update the scale; write status and the conditions
//	           AbleToScale, ScalingActive and ScalingLimited
//
// Without a metrics API the controller does nothing but report
// ScalingActive=False; it acts as soon as one answers. Only Resource
// metrics are computed; Pods, Object, External and ContainerResource
// metrics are reported as unsupported.
package horizontalpodautoscaler
