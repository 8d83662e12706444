package storageapi

import (
	storagev1 "k8s.io/api/storage/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"skiff/internal/apiserver/registry"
)

func csiNodeResource() registry.Resource {
	return registry.Resource{
		GroupVersion: groupVersion,
		Resource:     "csinodes",
		SingularName: "csinode",
		Kind:         "CSINode",
		New:          func() runtime.Object { return &storagev1.CSINode{} },
		NewList:      func() runtime.Object { return &storagev1.CSINodeList{} },
		Strategy: registry.Strategy{
			Validate: func(obj runtime.Object) field.ErrorList {
				n := obj.(*storagev1.CSINode)
				p := field.NewPath("spec", "drivers")
				var errs field.ErrorList
				seen := map[string]bool{}
				for i, d := range n.Spec.Drivers {
					dp := p.Index(i)
					errs = append(errs, validateDriverName(d.Name, dp.Child("name"))...)
					if seen[d.Name] {
						errs = append(errs, field.Duplicate(dp.Child("name"), d.Name))
					}
					seen[d.Name] = true
					if d.NodeID == "" {
						errs = append(errs, field.Required(dp.Child("nodeID"), ""))
					} else if len(d.NodeID) > 192 {
						errs = append(errs, field.TooLong(dp.Child("nodeID"), "", 192))
					}
					if d.Allocatable != nil && d.Allocatable.Count != nil && *d.Allocatable.Count < 0 {
						errs = append(errs, field.Invalid(dp.Child("allocatable", "count"), *d.Allocatable.Count, "must be greater than or equal to 0"))
					}
				}
				return errs
			},
			TableColumns: []metav1.TableColumnDefinition{
				registry.Column("Drivers", "integer", "Drivers indicates the number of CSI drivers registered on the node", 0),
				ageColumn(),
			},
			TableRow: func(obj runtime.Object) []interface{} {
				return []interface{}{int64(len(obj.(*storagev1.CSINode).Spec.Drivers)), registry.Age(obj)}
			},
		},
	}
}
