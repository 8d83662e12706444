// Package cachetrim keeps informer caches small.
//
// The control plane's own components (scheduler, controller manager) read
// every Pod, Node and workload of the cluster into informers. Nothing they
// do reads managedFields, which are often the biggest part of an object's
// metadata: as upstream's scheduler and controller manager do, their
// informers drop them. An update sent from a cached copy still keeps the
// stored managedFields: the API server takes the live object's when an
// update carries none.
package cachetrim

import metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

// ManagedFields is an informer transform that clears an object's
// managedFields; other values pass unchanged.
func ManagedFields(obj any) (any, error) {
	if o, ok := obj.(metav1.Object); ok {
		o.SetManagedFields(nil)
	}
	return obj, nil
}
