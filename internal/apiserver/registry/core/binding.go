package core

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"skiff/internal/apiserver/registry"
)

// bindingResource is the legacy bindings resource: POSTing a Binding to it
// assigns a pod to a node, as pods/binding does. Nothing is stored under it.
func bindingResource() registry.Resource {
	return registry.Resource{
		GroupVersion: corev1.SchemeGroupVersion,
		Resource:     "bindings",
		SingularName: "binding",
		Kind:         "Binding",
		Namespaced:   true,
		Verbs:        []string{"create"},
		New:          func() runtime.Object { return &corev1.Binding{} },
		NewList:      func() runtime.Object { return &corev1.PodList{} },
	}
}
