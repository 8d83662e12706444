package apiserver

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// namespaceHeld reports whether obj is a namespace that its spec.finalizers
// still keep. An update that leaves a deleted object without
// metadata.finalizers removes it, but a namespace also waits for the
// namespace controller to empty it and clear spec.finalizers (through the
// finalize subresource).
func namespaceHeld(obj runtime.Object) bool {
	ns, ok := obj.(*corev1.Namespace)
	return ok && len(ns.Spec.Finalizers) > 0
}
