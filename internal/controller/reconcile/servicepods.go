package reconcile

import (
	"maps"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/tools/cache"
)

// ServicePodHandler returns the pod event handler of a controller keyed by
// Service: it queues on q the namespace/name of every Service in services
// (indexed by namespace) whose selector matches the pod. A label change
// queues the Services matching the old labels too, since they lose the
// pod; resyncs (same resourceVersion) queue nothing.
func ServicePodHandler(services cache.Indexer, q *Loop) cache.ResourceEventHandlerFuncs {
	podChanged := func(obj any) {
		p, ok := Tombstone(obj).(*corev1.Pod)
		if !ok {
			return
		}
		objs, _ := services.ByIndex(cache.NamespaceIndex, p.Namespace)
		for _, o := range objs {
			svc := o.(*corev1.Service)
			if svc.Spec.Selector != nil && labels.SelectorFromValidatedSet(svc.Spec.Selector).Matches(labels.Set(p.Labels)) {
				q.Add(svc.Namespace + "/" + svc.Name)
			}
		}
	}
	return cache.ResourceEventHandlerFuncs{
		AddFunc: podChanged,
		UpdateFunc: func(o, n any) {
			op, np := o.(*corev1.Pod), n.(*corev1.Pod)
			if op.ResourceVersion == np.ResourceVersion {
				return
			}
			podChanged(n)
			if !maps.Equal(op.Labels, np.Labels) {
				podChanged(o)
			}
		},
		DeleteFunc: podChanged,
	}
}
