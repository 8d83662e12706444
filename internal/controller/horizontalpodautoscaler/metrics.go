package horizontalpodautoscaler

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/kubernetes"
	metricsv1beta1 "k8s.io/metrics/pkg/apis/metrics/v1beta1"
)

// MetricsSource reports pod resource usage.
type MetricsSource interface {
	// PodUsage returns the summed container usage of every pod that has
	// metrics, by pod name. An error means no usable metrics API.
	PodUsage(ctx context.Context, namespace string, selector labels.Selector) (map[string]PodMetric, error)
}

// PodMetric is a pod's usage over a window of time.
type PodMetric struct {
	// Usage is the sum of the pod's containers' usage.
	Usage corev1.ResourceList
	// Timestamp is the end of the window the usage was measured over,
	// Window its length: a CPU rate measured before the pod was ready
	// does not count.
	Timestamp time.Time
	Window    time.Duration
}

// apiSource reads the metrics.k8s.io/v1beta1 API through the API server.
type apiSource struct{ client kubernetes.Interface }

var _ MetricsSource = apiSource{}

func (s apiSource) PodUsage(ctx context.Context, namespace string, selector labels.Selector) (map[string]PodMetric, error) {
	raw, err := s.client.CoreV1().RESTClient().Get().
		AbsPath("/apis/metrics.k8s.io/v1beta1/namespaces", namespace, "pods").
		Param("labelSelector", selector.String()).
		// The answer is decoded as JSON, whatever the client would
		// otherwise accept (the controllers' clients ask for protobuf).
		SetHeader("Accept", "application/json").DoRaw(ctx)
	if err != nil {
		return nil, fmt.Errorf("get pod metrics in %s: %w", namespace, err)
	}
	var list metricsv1beta1.PodMetricsList
	if err := json.Unmarshal(raw, &list); err != nil {
		return nil, fmt.Errorf("decode pod metrics in %s: %w", namespace, err)
	}
	out := map[string]PodMetric{}
	for _, pm := range list.Items {
		sum := corev1.ResourceList{}
		for _, c := range pm.Containers {
			for k, v := range c.Usage {
				q := sum[k]
				q.Add(v)
				sum[k] = q
			}
		}
		out[pm.Name] = PodMetric{Usage: sum, Timestamp: pm.Timestamp.Time, Window: pm.Window.Duration}
	}
	return out, nil
}
