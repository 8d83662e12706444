package reconcile

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/cache"
)

// OwnedPodHandler returns the pod event handler of a controller that
// tracks its pods with expectations: for a pod controlled by an owner of
// kind ownerKind it marks the pod's creation or deletion observed under the
// owner's namespace/name key and queues that key. An update that sets the
// deletionTimestamp counts as the deletion, since the pod is on its way out.
func (l *Loop) OwnedPodHandler(ownerKind string, exp *Expectations) cache.ResourceEventHandlerFuncs {
	observe := func(o any, deleted bool) {
		p, ok := o.(*corev1.Pod)
		if !ok {
			return
		}
		ref := metav1.GetControllerOf(p)
		if ref == nil || ref.Kind != ownerKind {
			return
		}
		key := p.Namespace + "/" + ref.Name
		if deleted {
			exp.DeletionObserved(key, p.Name)
		} else {
			exp.CreationObserved(key, p.Name)
		}
		l.Add(key)
	}
	return cache.ResourceEventHandlerFuncs{
		AddFunc:    func(o any) { observe(o, false) },
		UpdateFunc: func(_, o any) { observe(o, o.(*corev1.Pod).DeletionTimestamp != nil) },
		DeleteFunc: func(o any) { observe(Tombstone(o), true) },
	}
}
