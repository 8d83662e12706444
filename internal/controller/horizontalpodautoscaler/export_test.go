package horizontalpodautoscaler

import "k8s.io/client-go/kubernetes"

// NewAPISource returns the MetricsSource the controller uses when its
// Config names none.
func NewAPISource(c kubernetes.Interface) MetricsSource { return apiSource{client: c} }
