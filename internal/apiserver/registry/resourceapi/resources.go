package resourceapi

import (
	"strings"
	"time"

	resourcev1 "k8s.io/api/resource/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"skiff/internal/apiserver/registry"
)

var groupVersion = resourcev1.SchemeGroupVersion

// Resources returns the resource.k8s.io/v1 resources.
func Resources() []registry.Resource {
	return []registry.Resource{
		deviceClassResource(),
		deviceTaintRuleResource(),
		resourceClaimResource(),
		resourceClaimTemplateResource(),
		resourceSliceResource(),
	}
}

func ageColumn() metav1.TableColumnDefinition {
	return registry.Column("Age", "string", metav1.ObjectMeta{}.SwaggerDoc()["creationTimestamp"], 0)
}

func deviceClassResource() registry.Resource {
	return registry.Resource{
		GroupVersion: groupVersion,
		Resource:     "deviceclasses",
		SingularName: "deviceclass",
		Kind:         "DeviceClass",
		New:          func() runtime.Object { return &resourcev1.DeviceClass{} },
		NewList:      func() runtime.Object { return &resourcev1.DeviceClassList{} },
		Strategy: registry.Strategy{
			Validate: func(obj runtime.Object) field.ErrorList {
				return validateDeviceClassSpec(&obj.(*resourcev1.DeviceClass).Spec, nil, field.NewPath("spec"))
			},
			ValidateUpdate: func(obj, old runtime.Object) field.ErrorList {
				return validateDeviceClassSpec(&obj.(*resourcev1.DeviceClass).Spec, &old.(*resourcev1.DeviceClass).Spec, field.NewPath("spec"))
			},
			// The update checks the spec itself: selectors it had before
			// are not compiled again.
			SkipValidateOnUpdate: true,
			TrackGeneration:      true,
			TableColumns:         []metav1.TableColumnDefinition{ageColumn()},
			TableRow:             func(obj runtime.Object) []interface{} { return []interface{}{registry.Age(obj)} },
		},
	}
}

func deviceTaintRuleResource() registry.Resource {
	return registry.Resource{
		GroupVersion: groupVersion,
		Resource:     "devicetaintrules",
		SingularName: "devicetaintrule",
		Kind:         "DeviceTaintRule",
		Subresources: []string{"status"},
		New:          func() runtime.Object { return &resourcev1.DeviceTaintRule{} },
		NewList:      func() runtime.Object { return &resourcev1.DeviceTaintRuleList{} },
		Strategy: registry.Strategy{
			Default: func(obj runtime.Object) { defaultTaint(&obj.(*resourcev1.DeviceTaintRule).Spec.Taint) },
			PrepareForCreate: func(obj runtime.Object) {
				obj.(*resourcev1.DeviceTaintRule).Status = resourcev1.DeviceTaintRuleStatus{}
			},
			PrepareForUpdate: func(obj, old runtime.Object) {
				r, o := obj.(*resourcev1.DeviceTaintRule), old.(*resourcev1.DeviceTaintRule)
				r.Status = o.Status
				// TimeAdded tracks when the effect was added: a new
				// effect gets a new time unless the client set one.
				if r.Spec.Taint.Effect != o.Spec.Taint.Effect && r.Spec.Taint.TimeAdded.Equal(o.Spec.Taint.TimeAdded) {
					r.Spec.Taint.TimeAdded = &metav1.Time{Time: time.Now().Truncate(time.Second)}
				}
			},
			Validate: func(obj runtime.Object) field.ErrorList {
				return validateDeviceTaintRuleSpec(&obj.(*resourcev1.DeviceTaintRule).Spec, nil, field.NewPath("spec"))
			},
			ValidateUpdate: func(obj, old runtime.Object) field.ErrorList {
				return validateDeviceTaintRuleSpec(&obj.(*resourcev1.DeviceTaintRule).Spec, &old.(*resourcev1.DeviceTaintRule).Spec, field.NewPath("spec"))
			},
			SkipValidateOnUpdate: true,
			SubresourceUpdates: map[string]registry.SubresourceUpdate{"status": registry.StatusUpdate(registry.Status{
				ResetMetadata: true,
				Validate: func(obj, old runtime.Object) field.ErrorList {
					return validateConditions(obj.(*resourcev1.DeviceTaintRule).Status.Conditions, field.NewPath("status", "conditions"))
				},
			})},
			TrackGeneration: true,
			TableColumns: []metav1.TableColumnDefinition{
				registry.Column("Key", "string", resourcev1.DeviceTaint{}.SwaggerDoc()["key"], 0),
				registry.Column("Value", "string", resourcev1.DeviceTaint{}.SwaggerDoc()["value"], 0),
				registry.Column("Effect", "string", resourcev1.DeviceTaint{}.SwaggerDoc()["effect"], 0),
				registry.Column("TimeAdded", "string", resourcev1.DeviceTaint{}.SwaggerDoc()["timeAdded"], 0),
				ageColumn(),
			},
			TableRow: func(obj runtime.Object) []interface{} {
				t := obj.(*resourcev1.DeviceTaintRule).Spec.Taint
				added := "<unset>"
				if t.TimeAdded != nil {
					added = registry.Since(*t.TimeAdded)
				}
				return []interface{}{t.Key, t.Value, string(t.Effect), added, registry.Age(obj)}
			},
		},
	}
}

func resourceClaimResource() registry.Resource {
	return registry.Resource{
		GroupVersion: groupVersion,
		Resource:     "resourceclaims",
		SingularName: "resourceclaim",
		Kind:         "ResourceClaim",
		Namespaced:   true,
		Subresources: []string{"status"},
		New:          func() runtime.Object { return &resourcev1.ResourceClaim{} },
		NewList:      func() runtime.Object { return &resourcev1.ResourceClaimList{} },
		Strategy: registry.Strategy{
			Default: func(obj runtime.Object) { defaultClaimSpec(&obj.(*resourcev1.ResourceClaim).Spec) },
			PrepareForCreate: func(obj runtime.Object) {
				obj.(*resourcev1.ResourceClaim).Status = resourcev1.ResourceClaimStatus{}
			},
			PrepareForUpdate: func(obj, old runtime.Object) {
				obj.(*resourcev1.ResourceClaim).Status = old.(*resourcev1.ResourceClaim).Status
			},
			Validate: func(obj runtime.Object) field.ErrorList {
				return validateClaimSpec(&obj.(*resourcev1.ResourceClaim).Spec, field.NewPath("spec"))
			},
			ValidateUpdate: func(obj, old runtime.Object) field.ErrorList {
				return apivalidation.ValidateImmutableField(obj.(*resourcev1.ResourceClaim).Spec, old.(*resourcev1.ResourceClaim).Spec, field.NewPath("spec"))
			},
			// Only immutability is checked on update: the spec was valid
			// when stored.
			SkipValidateOnUpdate: true,
			SubresourceUpdates: map[string]registry.SubresourceUpdate{"status": registry.StatusUpdate(registry.Status{
				ResetMetadata: true,
				Validate: func(obj, old runtime.Object) field.ErrorList {
					c := obj.(*resourcev1.ResourceClaim)
					return validateClaimStatus(&c.Status, &old.(*resourcev1.ResourceClaim).Status, c.DeletionTimestamp != nil, field.NewPath("status"))
				},
			})},
			TableColumns: []metav1.TableColumnDefinition{
				registry.Column("State", "string", "A summary of the current state (allocated, pending, reserved, etc.).", 0),
				ageColumn(),
			},
			TableRow: func(obj runtime.Object) []interface{} {
				return []interface{}{claimState(obj.(*resourcev1.ResourceClaim)), registry.Age(obj)}
			},
		},
	}
}

// claimState summarizes a claim as kubectl's State column does.
func claimState(c *resourcev1.ResourceClaim) string {
	var states []string
	if c.DeletionTimestamp != nil {
		states = append(states, "deleted")
	}
	switch {
	case c.Status.Allocation == nil && c.DeletionTimestamp == nil:
		states = append(states, "pending")
	case c.Status.Allocation != nil:
		states = append(states, "allocated")
		if len(c.Status.ReservedFor) > 0 {
			states = append(states, "reserved")
		}
	}
	return strings.Join(states, ",")
}

func resourceClaimTemplateResource() registry.Resource {
	return registry.Resource{
		GroupVersion: groupVersion,
		Resource:     "resourceclaimtemplates",
		SingularName: "resourceclaimtemplate",
		Kind:         "ResourceClaimTemplate",
		Namespaced:   true,
		New:          func() runtime.Object { return &resourcev1.ResourceClaimTemplate{} },
		NewList:      func() runtime.Object { return &resourcev1.ResourceClaimTemplateList{} },
		Strategy: registry.Strategy{
			Default: func(obj runtime.Object) { defaultClaimSpec(&obj.(*resourcev1.ResourceClaimTemplate).Spec.Spec) },
			Validate: func(obj runtime.Object) field.ErrorList {
				return validateClaimSpec(&obj.(*resourcev1.ResourceClaimTemplate).Spec.Spec, field.NewPath("spec", "spec"))
			},
			ValidateUpdate: func(obj, old runtime.Object) field.ErrorList {
				return apivalidation.ValidateImmutableField(obj.(*resourcev1.ResourceClaimTemplate).Spec, old.(*resourcev1.ResourceClaimTemplate).Spec, field.NewPath("spec"))
			},
			SkipValidateOnUpdate: true,
			TableColumns:         []metav1.TableColumnDefinition{ageColumn()},
			TableRow:             func(obj runtime.Object) []interface{} { return []interface{}{registry.Age(obj)} },
		},
	}
}

func resourceSliceResource() registry.Resource {
	return registry.Resource{
		GroupVersion: groupVersion,
		Resource:     "resourceslices",
		SingularName: "resourceslice",
		Kind:         "ResourceSlice",
		New:          func() runtime.Object { return &resourcev1.ResourceSlice{} },
		NewList:      func() runtime.Object { return &resourcev1.ResourceSliceList{} },
		Strategy: registry.Strategy{
			Default: func(obj runtime.Object) {
				s := obj.(*resourcev1.ResourceSlice)
				for i := range s.Spec.Devices {
					for j := range s.Spec.Devices[i].Taints {
						defaultTaint(&s.Spec.Devices[i].Taints[j])
					}
				}
			},
			Validate: func(obj runtime.Object) field.ErrorList {
				return validateSliceSpec(&obj.(*resourcev1.ResourceSlice).Spec, nil, field.NewPath("spec"))
			},
			ValidateUpdate: func(obj, old runtime.Object) field.ErrorList {
				return validateSliceSpec(&obj.(*resourcev1.ResourceSlice).Spec, &old.(*resourcev1.ResourceSlice).Spec, field.NewPath("spec"))
			},
			SkipValidateOnUpdate: true,
			TrackGeneration:      true,
			Fields: func(obj runtime.Object) fields.Set {
				s := obj.(*resourcev1.ResourceSlice)
				node := ""
				if s.Spec.NodeName != nil {
					node = *s.Spec.NodeName
				}
				return fields.Set{
					resourcev1.ResourceSliceSelectorNodeName: node,
					resourcev1.ResourceSliceSelectorDriver:   s.Spec.Driver,
					"spec.pool.name":                         s.Spec.Pool.Name,
				}
			},
			TableColumns: []metav1.TableColumnDefinition{
				registry.Column("Node", "string", resourcev1.ResourceSliceSpec{}.SwaggerDoc()["nodeName"], 0),
				registry.Column("Driver", "string", resourcev1.ResourceSliceSpec{}.SwaggerDoc()["driver"], 0),
				registry.Column("Pool", "string", resourcev1.ResourcePool{}.SwaggerDoc()["name"], 0),
				ageColumn(),
			},
			TableRow: func(obj runtime.Object) []interface{} {
				s := obj.(*resourcev1.ResourceSlice)
				node := ""
				if s.Spec.NodeName != nil {
					node = *s.Spec.NodeName
				}
				return []interface{}{node, s.Spec.Driver, s.Spec.Pool.Name, registry.Age(obj)}
			},
		},
	}
}

// defaultClaimSpec sets upstream's v1 request defaults: ExactCount, one
// device.
func defaultClaimSpec(spec *resourcev1.ResourceClaimSpec) {
	for i := range spec.Devices.Requests {
		r := &spec.Devices.Requests[i]
		if e := r.Exactly; e != nil {
			defaultCount(&e.AllocationMode, &e.Count)
		}
		for j := range r.FirstAvailable {
			s := &r.FirstAvailable[j]
			defaultCount(&s.AllocationMode, &s.Count)
		}
	}
}

func defaultCount(mode *resourcev1.DeviceAllocationMode, count *int64) {
	if *mode == "" {
		*mode = resourcev1.DeviceAllocationModeExactCount
	}
	if *mode == resourcev1.DeviceAllocationModeExactCount && *count == 0 {
		*count = 1
	}
}

// defaultTaint stamps a taint with the time it was added, as upstream's
// defaulting does (to the second, which is all the encoding keeps).
func defaultTaint(t *resourcev1.DeviceTaint) {
	if t.TimeAdded == nil {
		t.TimeAdded = &metav1.Time{Time: time.Now().Truncate(time.Second)}
	}
}

// semanticEqual reports whether two values are equal as upstream compares
// API objects.
func semanticEqual(a, b interface{}) bool { return apiequality.Semantic.DeepEqual(a, b) }
