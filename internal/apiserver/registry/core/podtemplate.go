package core

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"skiff/internal/apiserver/registry"
)

func podTemplateResource() registry.Resource {
	return registry.Resource{
		GroupVersion: corev1.SchemeGroupVersion,
		Resource:     "podtemplates",
		SingularName: "podtemplate",
		Kind:         "PodTemplate",
		Namespaced:   true,
		New:          func() runtime.Object { return &corev1.PodTemplate{} },
		NewList:      func() runtime.Object { return &corev1.PodTemplateList{} },
		Strategy: registry.Strategy{
			Default: func(obj runtime.Object) { DefaultPodTemplateSpec(&obj.(*corev1.PodTemplate).Template) },
			Validate: func(obj runtime.Object) field.ErrorList {
				return ValidatePodTemplateSpec(&obj.(*corev1.PodTemplate).Template, field.NewPath("template"))
			},
			// Upstream bumps a pod template's generation when its template changes.
			TrackGeneration: true,
			TableColumns: []metav1.TableColumnDefinition{
				registry.Column("Containers", "string", "Names of each container in the template.", 0),
				registry.Column("Images", "string", "Images referenced by each container in the template.", 0),
				registry.Column("Pod Labels", "string", "The labels for the pod template.", 0),
			},
			TableRow: func(obj runtime.Object) []interface{} {
				t := obj.(*corev1.PodTemplate)
				names, images := ContainersAndImages(t.Template.Spec.Containers)
				return []interface{}{names, images, labels.FormatLabels(t.Template.Labels)}
			},
		},
	}
}
