// Package metricsapi describes the read-only resources of
// metrics.k8s.io/v1beta1: NodeMetrics (nodes) and PodMetrics (pods).
// Nothing is stored under them: the API server answers get and list from
// the usage it collects from the node agents.
package metricsapi

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
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
			Strategy: registry.Strategy{TableColumns: columns(), TableRow: func(obj runtime.Object) []interface{} {
				m := obj.(*metricsv1beta1.NodeMetrics)
				return row(m.Usage, m.Window)
			}},
		},
		{
			GroupVersion: gv, Resource: "pods", SingularName: "", Kind: "PodMetrics", Namespaced: true,
			Verbs:   []string{"get", "list"},
			New:     func() runtime.Object { return &metricsv1beta1.PodMetrics{} },
			NewList: func() runtime.Object { return &metricsv1beta1.PodMetricsList{} },
			Strategy: registry.Strategy{TableColumns: columns(), TableRow: func(obj runtime.Object) []interface{} {
				m := obj.(*metricsv1beta1.PodMetrics)
				sum := corev1.ResourceList{}
				for _, c := range m.Containers {
					for k, v := range c.Usage {
						q := sum[k]
						q.Add(v)
						sum[k] = q
					}
				}
				return row(sum, m.Window)
			}},
		},
	}
}

// columns are those kubectl get shows, as metrics-server has them.
func columns() []metav1.TableColumnDefinition {
	return []metav1.TableColumnDefinition{
		registry.Column("CPU", "string", "CPU usage", 0),
		registry.Column("Memory", "string", "Memory usage", 0),
		registry.Column("Window", "string", "Time window of the usage", 0),
	}
}

func row(usage corev1.ResourceList, window metav1.Duration) []interface{} {
	return []interface{}{usage.Cpu().String(), usage.Memory().String(), window.Duration.String()}
}

// IsMetrics reports whether gvr is one of the metrics resources.
func IsMetrics(gvr schema.GroupVersionResource) bool {
	return gvr.GroupVersion() == metricsv1beta1.SchemeGroupVersion && (gvr.Resource == "nodes" || gvr.Resource == "pods")
}
