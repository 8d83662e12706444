package agent

import (
	"context"
	"sync"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
)

// PodHandler receives pods and nodes from a watch: an *Agent, or a
// dispatcher in front of many agents.
type PodHandler interface {
	PodUpdated(pod *corev1.Pod)
	PodDeleted(pod *corev1.Pod)
	NodeUpdated(node *corev1.Node)
}

// WatchPods runs an informer on pods and one on nodes, filtered by the
// field selectors, and delivers what they see to h until ctx is done.
// Managed fields, and all of a Node but its name and spec, are dropped to
// keep the caches small.
func WatchPods(ctx context.Context, client kubernetes.Interface, podSelector, nodeSelector fields.Selector, h PodHandler) {
	strip := func(obj any) (any, error) {
		if m, ok := obj.(metav1.Object); ok {
			m.SetManagedFields(nil)
		}
		return obj, nil
	}
	// Handlers only read a Node's name and spec: keep nothing else, so
	// that thousands of simulated nodes share a small cache.
	stripNode := func(obj any) (any, error) {
		if n, ok := obj.(*corev1.Node); ok {
			return &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: n.Name, UID: n.UID, ResourceVersion: n.ResourceVersion}, Spec: n.Spec}, nil
		}
		return obj, nil
	}
	pods := cache.NewSharedIndexInformer(cache.NewFilteredListWatchFromClient(client.CoreV1().RESTClient(), "pods", metav1.NamespaceAll, func(o *metav1.ListOptions) {
		o.FieldSelector = podSelector.String()
	}), &corev1.Pod{}, 0, cache.Indexers{})
	_ = pods.SetTransform(strip)
	_, _ = pods.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { h.PodUpdated(obj.(*corev1.Pod)) },
		UpdateFunc: func(_, obj any) { h.PodUpdated(obj.(*corev1.Pod)) },
		DeleteFunc: func(obj any) {
			if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
				obj = t.Obj
			}
			if p, ok := obj.(*corev1.Pod); ok {
				h.PodDeleted(p)
			}
		},
	})
	nodes := cache.NewSharedIndexInformer(cache.NewFilteredListWatchFromClient(client.CoreV1().RESTClient(), "nodes", metav1.NamespaceAll, func(o *metav1.ListOptions) {
		o.FieldSelector = nodeSelector.String()
	}), &corev1.Node{}, 0, cache.Indexers{})
	_ = nodes.SetTransform(stripNode)
	_, _ = nodes.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { h.NodeUpdated(obj.(*corev1.Node)) },
		UpdateFunc: func(_, obj any) { h.NodeUpdated(obj.(*corev1.Node)) },
	})
	var wg sync.WaitGroup
	wg.Go(func() { pods.RunWithContext(ctx) })
	wg.Go(func() { nodes.RunWithContext(ctx) })
	wg.Wait()
}

// watch runs the agent's own watches on its pods and its Node.
func (a *Agent) watch(ctx context.Context) {
	WatchPods(ctx, a.cfg.Client,
		fields.OneTermEqualSelector("spec.nodeName", a.cfg.NodeName),
		fields.OneTermEqualSelector("metadata.name", a.cfg.NodeName),
		a)
}

var _ PodHandler = (*Agent)(nil)
