// Package metricsapi describes the read-only resources of
// metrics.k8s.io/v1beta1: NodeMetrics (nodes) and PodMetrics (pods).
// Nothing is stored under them: the API server answers get and list from
// the usage it collects from the node agents.
package metricsapi

import (
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	metricsv1beta1 "k8s.io/metrics/pkg/apis/metrics/v1beta1"

	"skiff/internal/apiserver/registry"
)

// Resources returns the metrics.k8s.io/v1beta1 resources.
func Resources() []registry.Resource {
	gv := metricsv1beta1.SchemeGroupVersion
	return []registry.Resource{
		{
			GroupVersion: gv, Resource: "nodes", SingularName: "", Kind: "NodeMetrics",
			Verbs:   []string{"get", "list"},
			New:     func() runtime.Object { return &metricsv1beta1.NodeMetrics{} },
			NewList: func() runtime.Object { return &metricsv1beta1.NodeMetricsList{} },
		},
		{
			GroupVersion: gv, Resource: "pods", SingularName: "", Kind: "PodMetrics", Namespaced: true,
			Verbs:   []string{"get", "list"},
			New:     func() runtime.Object { return &metricsv1beta1.PodMetrics{} },
			NewList: func() runtime.Object { return &metricsv1beta1.PodMetricsList{} },
		},
	}
}

// IsMetrics reports whether gvr is one of the metrics resources.
func IsMetrics(gvr schema.GroupVersionResource) bool {
	return gvr.GroupVersion() == metricsv1beta1.SchemeGroupVersion && (gvr.Resource == "nodes" || gvr.Resource == "pods")
}
