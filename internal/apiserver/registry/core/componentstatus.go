package core

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"skiff/internal/apiserver/registry"
)

// componentStatusResource is read-only: the API server computes the objects
// by probing its components; nothing is stored.
func componentStatusResource() registry.Resource {
	return registry.Resource{
		GroupVersion: corev1.SchemeGroupVersion,
		Resource:     "componentstatuses",
		SingularName: "componentstatus",
		Kind:         "ComponentStatus",
		ShortNames:   []string{"cs"},
		Verbs:        []string{"get", "list"},
		New:          func() runtime.Object { return &corev1.ComponentStatus{} },
		NewList:      func() runtime.Object { return &corev1.ComponentStatusList{} },
		Strategy: registry.Strategy{
			TableColumns: []metav1.TableColumnDefinition{
				registry.Column("Status", "string", "Status of the component conditions", 0),
				registry.Column("Message", "string", "Message of the component conditions", 0),
				registry.Column("Error", "string", "Error of the component conditions", 0),
			},
			TableRow: func(obj runtime.Object) []interface{} {
				cs := obj.(*corev1.ComponentStatus)
				status, msg, errText := "Unknown", "", ""
				for _, c := range cs.Conditions {
					if c.Type == corev1.ComponentHealthy {
						status = "Unhealthy"
						if c.Status == corev1.ConditionTrue {
							status = "Healthy"
						}
						msg, errText = c.Message, c.Error
						break
					}
				}
				return []interface{}{status, msg, errText}
			},
		},
	}
}
