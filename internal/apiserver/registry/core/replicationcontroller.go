package core

import (
	"strconv"

	autoscalingv1 "k8s.io/api/autoscaling/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"skiff/internal/apiserver/registry"
)

func replicationControllerResource() registry.Resource {
	return registry.Resource{
		GroupVersion: corev1.SchemeGroupVersion,
		Resource:     "replicationcontrollers",
		SingularName: "replicationcontroller",
		Kind:         "ReplicationController",
		ShortNames:   []string{"rc"},
		Categories:   []string{"all"},
		Namespaced:   true,
		Subresources: []string{"status", "scale"},
		New:          func() runtime.Object { return &corev1.ReplicationController{} },
		NewList:      func() runtime.Object { return &corev1.ReplicationControllerList{} },
		Strategy: registry.Strategy{
			Default: func(obj runtime.Object) { defaultRC(obj.(*corev1.ReplicationController)) },
			PrepareForCreate: func(obj runtime.Object) {
				obj.(*corev1.ReplicationController).Status = corev1.ReplicationControllerStatus{}
			},
			PrepareForUpdate: func(obj, old runtime.Object) {
				obj.(*corev1.ReplicationController).Status = old.(*corev1.ReplicationController).Status
			},
			Validate: func(obj runtime.Object) field.ErrorList {
				return validateRCSpec(&obj.(*corev1.ReplicationController).Spec, field.NewPath("spec"))
			},
			SubresourceUpdates: map[string]registry.SubresourceUpdate{
				"status": registry.StatusUpdate(registry.Status{
					Validate: func(obj, old runtime.Object) field.ErrorList {
						return validateRCStatus(&obj.(*corev1.ReplicationController).Status, field.NewPath("status"))
					},
				}),
			},
			TrackGeneration: true,
			TableColumns: []metav1.TableColumnDefinition{
				registry.Column("Desired", "integer", corev1.ReplicationControllerSpec{}.SwaggerDoc()["replicas"], 0),
				registry.Column("Current", "integer", corev1.ReplicationControllerStatus{}.SwaggerDoc()["replicas"], 0),
				registry.Column("Ready", "integer", corev1.ReplicationControllerStatus{}.SwaggerDoc()["readyReplicas"], 0),
				registry.Column("Age", "string", metav1.ObjectMeta{}.SwaggerDoc()["creationTimestamp"], 0),
				registry.Column("Containers", "string", "Names of each container in the template.", 1),
				registry.Column("Images", "string", "Images referenced by each container in the template.", 1),
				registry.Column("Selector", "string", corev1.ReplicationControllerSpec{}.SwaggerDoc()["selector"], 1),
			},
			TableRow: func(obj runtime.Object) []interface{} { return rcRow(obj.(*corev1.ReplicationController)) },
			Fields: func(obj runtime.Object) fields.Set {
				return fields.Set{"status.replicas": strconv.Itoa(int(obj.(*corev1.ReplicationController).Status.Replicas))}
			},
			Scale: &registry.ScaleAccess{
				Get: func(obj runtime.Object) *autoscalingv1.Scale {
					rc := obj.(*corev1.ReplicationController)
					s := &autoscalingv1.Scale{
						ObjectMeta: metav1.ObjectMeta{
							Name: rc.Name, Namespace: rc.Namespace, UID: rc.UID,
							ResourceVersion: rc.ResourceVersion, CreationTimestamp: rc.CreationTimestamp,
						},
						Status: autoscalingv1.ScaleStatus{
							Replicas: rc.Status.Replicas,
							Selector: labels.SelectorFromSet(rc.Spec.Selector).String(),
						},
					}
					if rc.Spec.Replicas != nil {
						s.Spec.Replicas = *rc.Spec.Replicas
					}
					return s
				},
				SetReplicas: func(obj runtime.Object, replicas int32) {
					obj.(*corev1.ReplicationController).Spec.Replicas = &replicas
				},
			},
		},
	}
}

// defaultRC takes selector and labels from the template when unset, and
// one replica.
func defaultRC(rc *corev1.ReplicationController) {
	if t := rc.Spec.Template; t != nil {
		if len(rc.Spec.Selector) == 0 && len(t.Labels) > 0 {
			rc.Spec.Selector = copyLabels(t.Labels)
		}
		if len(rc.Labels) == 0 && len(t.Labels) > 0 {
			rc.Labels = copyLabels(t.Labels)
		}
		DefaultPodTemplateSpec(t)
	}
	if rc.Spec.Replicas == nil {
		r := int32(1)
		rc.Spec.Replicas = &r
	}
}

func copyLabels(in map[string]string) map[string]string {
	out := make(map[string]string, len(in))
	for k, v := range in {
		out[k] = v
	}
	return out
}

func validateRCSpec(spec *corev1.ReplicationControllerSpec, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	if spec.Replicas != nil {
		errs = append(errs, validateNonnegative(int64(*spec.Replicas), fldPath.Child("replicas"))...)
	}
	errs = append(errs, validateNonnegative(int64(spec.MinReadySeconds), fldPath.Child("minReadySeconds"))...)
	if len(spec.Selector) == 0 {
		errs = append(errs, field.Required(fldPath.Child("selector"), ""))
	} else {
		errs = append(errs, validateMapSelector(spec.Selector, fldPath.Child("selector"))...)
	}
	tp := fldPath.Child("template")
	t := spec.Template
	if t == nil {
		return append(errs, field.Required(tp, ""))
	}
	if len(spec.Selector) > 0 && !labels.SelectorFromSet(spec.Selector).Matches(labels.Set(t.Labels)) {
		errs = append(errs, field.Invalid(tp.Child("metadata", "labels"), t.Labels, "`selector` does not match template `labels`"))
	}
	errs = append(errs, ValidatePodTemplateSpec(t, tp)...)
	if t.Spec.RestartPolicy != corev1.RestartPolicyAlways {
		errs = append(errs, field.NotSupported(tp.Child("spec", "restartPolicy"), t.Spec.RestartPolicy, []string{string(corev1.RestartPolicyAlways)}))
	}
	if t.Spec.ActiveDeadlineSeconds != nil {
		errs = append(errs, field.Forbidden(tp.Child("spec", "activeDeadlineSeconds"), "activeDeadlineSeconds in ReplicationController is not Supported"))
	}
	return errs
}

func validateRCStatus(st *corev1.ReplicationControllerStatus, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	errs = append(errs, validateNonnegative(int64(st.Replicas), fldPath.Child("replicas"))...)
	errs = append(errs, validateNonnegative(int64(st.FullyLabeledReplicas), fldPath.Child("fullyLabeledReplicas"))...)
	errs = append(errs, validateNonnegative(int64(st.ReadyReplicas), fldPath.Child("readyReplicas"))...)
	errs = append(errs, validateNonnegative(int64(st.AvailableReplicas), fldPath.Child("availableReplicas"))...)
	errs = append(errs, validateNonnegative(st.ObservedGeneration, fldPath.Child("observedGeneration"))...)
	if st.FullyLabeledReplicas > st.Replicas {
		errs = append(errs, field.Invalid(fldPath.Child("fullyLabeledReplicas"), st.FullyLabeledReplicas, "cannot be greater than status.replicas"))
	}
	if st.ReadyReplicas > st.Replicas {
		errs = append(errs, field.Invalid(fldPath.Child("readyReplicas"), st.ReadyReplicas, "cannot be greater than status.replicas"))
	}
	if st.AvailableReplicas > st.Replicas {
		errs = append(errs, field.Invalid(fldPath.Child("availableReplicas"), st.AvailableReplicas, "cannot be greater than status.replicas"))
	}
	if st.AvailableReplicas > st.ReadyReplicas {
		errs = append(errs, field.Invalid(fldPath.Child("availableReplicas"), st.AvailableReplicas, "cannot be greater than readyReplicas"))
	}
	return errs
}

func rcRow(rc *corev1.ReplicationController) []interface{} {
	desired := int64(0)
	if rc.Spec.Replicas != nil {
		desired = int64(*rc.Spec.Replicas)
	}
	names, images := "", ""
	if rc.Spec.Template != nil {
		names, images = ContainersAndImages(rc.Spec.Template.Spec.Containers)
	}
	return []interface{}{
		desired, int64(rc.Status.Replicas), int64(rc.Status.ReadyReplicas), registry.Age(rc),
		names, images, labels.FormatLabels(rc.Spec.Selector),
	}
}
