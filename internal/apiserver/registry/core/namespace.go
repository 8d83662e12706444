package core

import (
	corev1 "k8s.io/api/core/v1"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"skiff/internal/apiserver/registry"
)

// namespaceNameLabel is the label upstream puts on every namespace, holding
// its name, so that namespace selectors can pick namespaces by name.
const namespaceNameLabel = "kubernetes.io/metadata.name"

func namespaceResource() registry.Resource {
	return registry.Resource{
		GroupVersion: corev1.SchemeGroupVersion,
		Resource:     "namespaces",
		SingularName: "namespace",
		Kind:         "Namespace",
		ShortNames:   []string{"ns"},
		Verbs:        []string{"create", "delete", "get", "list", "patch", "update", "watch"},
		Subresources: []string{"status", "finalize"},
		New:          func() runtime.Object { return &corev1.Namespace{} },
		NewList:      func() runtime.Object { return &corev1.NamespaceList{} },
		Strategy: registry.Strategy{
			Default: func(obj runtime.Object) {
				ns := obj.(*corev1.Namespace)
				if ns.Status.Phase == "" {
					ns.Status.Phase = corev1.NamespaceActive
				}
				setNamespaceNameLabel(ns)
			},
			PrepareForCreate: func(obj runtime.Object) {
				ns := obj.(*corev1.Namespace)
				ns.Status = corev1.NamespaceStatus{Phase: corev1.NamespaceActive}
				// Every namespace starts with the kubernetes finalizer, which
				// the namespace controller removes once the contents are gone.
				has := false
				for _, f := range ns.Spec.Finalizers {
					if f == corev1.FinalizerKubernetes {
						has = true
					}
				}
				if !has {
					ns.Spec.Finalizers = append(ns.Spec.Finalizers, corev1.FinalizerKubernetes)
				}
				setNamespaceNameLabel(ns)
			},
			PrepareForUpdate: func(obj, old runtime.Object) {
				ns, o := obj.(*corev1.Namespace), old.(*corev1.Namespace)
				// spec.finalizers change only through /finalize.
				ns.Spec = o.Spec
				ns.Status = o.Status
				setNamespaceNameLabel(ns)
			},
			NameValidation: apivalidation.NameIsDNSLabel,
			Validate: func(obj runtime.Object) field.ErrorList {
				return validateNamespaceFinalizers(obj.(*corev1.Namespace))
			},
			SubresourceUpdates: map[string]registry.SubresourceUpdate{
				"status": registry.StatusUpdate(registry.Status{
					Prepare: func(obj, old runtime.Object) {
						ns, o := obj.(*corev1.Namespace), old.(*corev1.Namespace)
						ns.Spec = o.Spec
						setNamespaceNameLabel(ns)
					},
					Validate: func(obj, old runtime.Object) field.ErrorList {
						return validateNamespaceStatus(obj.(*corev1.Namespace))
					},
				}),
				"finalize": {
					Prepare: func(obj, old runtime.Object) {
						PrepareNamespaceFinalize(obj.(*corev1.Namespace), old.(*corev1.Namespace))
					},
					Validate: func(obj, old runtime.Object) field.ErrorList {
						return ValidateNamespaceFinalize(obj.(*corev1.Namespace), old.(*corev1.Namespace))
					},
				}},
			TableColumns: []metav1.TableColumnDefinition{
				registry.Column("Status", "string", "The status of the namespace", 0),
				registry.Column("Age", "string", metav1.ObjectMeta{}.SwaggerDoc()["creationTimestamp"], 0),
			},
			TableRow: func(obj runtime.Object) []interface{} {
				return []interface{}{string(obj.(*corev1.Namespace).Status.Phase), registry.Age(obj)}
			},
			Fields: func(obj runtime.Object) fields.Set {
				ns := obj.(*corev1.Namespace)
				// "name" is an old selector upstream keeps for compatibility.
				return fields.Set{"status.phase": string(ns.Status.Phase), "name": ns.Name}
			},
		},
	}
}

func setNamespaceNameLabel(ns *corev1.Namespace) {
	if ns.Name == "" {
		return
	}
	if ns.Labels == nil {
		ns.Labels = map[string]string{}
	}
	ns.Labels[namespaceNameLabel] = ns.Name
}

func validateNamespaceFinalizers(ns *corev1.Namespace) field.ErrorList {
	var errs field.ErrorList
	p := field.NewPath("spec", "finalizers")
	for i, f := range ns.Spec.Finalizers {
		errs = append(errs, apivalidation.ValidateFinalizerName(string(f), p.Index(i))...)
	}
	return errs
}

func validateNamespaceStatus(ns *corev1.Namespace) field.ErrorList {
	p := field.NewPath("status", "Phase")
	if ns.DeletionTimestamp.IsZero() {
		if ns.Status.Phase != corev1.NamespaceActive {
			return field.ErrorList{field.Invalid(p, ns.Status.Phase, "may only be 'Active' if `deletionTimestamp` is empty")}
		}
		return nil
	}
	if ns.Status.Phase != corev1.NamespaceTerminating {
		return field.ErrorList{field.Invalid(p, ns.Status.Phase, "may only be 'Terminating' if `deletionTimestamp` is not empty")}
	}
	return nil
}

// PrepareNamespaceFinalize fixes up an update through namespaces/finalize:
// only spec.finalizers comes from the request; everything else (status,
// and the rest of metadata the store keeps) stays as stored.
func PrepareNamespaceFinalize(ns, old *corev1.Namespace) {
	fin := ns.Spec.Finalizers
	ns.Spec = *old.Spec.DeepCopy()
	ns.Spec.Finalizers = fin
	ns.Status = old.Status
	setNamespaceNameLabel(ns)
}

// ValidateNamespaceFinalize checks an update through namespaces/finalize.
func ValidateNamespaceFinalize(ns, _ *corev1.Namespace) field.ErrorList {
	return validateNamespaceFinalizers(ns)
}
