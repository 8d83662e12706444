package scheduling

import (
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	schedulingv1 "k8s.io/api/scheduling/v1"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"skiff/internal/apiserver/registry"
)

// Priority bounds and the system classes, as upstream's scheduling API
// defines them.
const (
	HighestUserDefinablePriority = int32(1000000000)
	SystemCriticalPriority       = 2 * HighestUserDefinablePriority
	systemPrefix                 = "system-"
)

// SystemPriorityClasses returns the two classes every cluster has, with the
// values upstream gives them.
func SystemPriorityClasses() []*schedulingv1.PriorityClass {
	return []*schedulingv1.PriorityClass{
		{
			ObjectMeta:  metav1.ObjectMeta{Name: "system-node-critical"},
			Value:       SystemCriticalPriority + 1000,
			Description: "Used for system critical pods that must not be moved from their current node.",
		},
		{
			ObjectMeta:  metav1.ObjectMeta{Name: "system-cluster-critical"},
			Value:       SystemCriticalPriority,
			Description: "Used for system critical pods that must run in the cluster, but can be moved to another node if necessary.",
		},
	}
}

// Resources returns the scheduling.k8s.io/v1 resources.
func Resources() []registry.Resource {
	return []registry.Resource{priorityClassResource()}
}

func priorityClassResource() registry.Resource {
	return registry.Resource{
		GroupVersion: schedulingv1.SchemeGroupVersion,
		Resource:     "priorityclasses",
		SingularName: "priorityclass",
		Kind:         "PriorityClass",
		ShortNames:   []string{"pc"},
		New:          func() runtime.Object { return &schedulingv1.PriorityClass{} },
		NewList:      func() runtime.Object { return &schedulingv1.PriorityClassList{} },
		Strategy: registry.Strategy{
			Default: func(obj runtime.Object) {
				pc := obj.(*schedulingv1.PriorityClass)
				if pc.PreemptionPolicy == nil {
					p := corev1.PreemptLowerPriority
					pc.PreemptionPolicy = &p
				}
			},
			Validate:       validatePriorityClass,
			ValidateUpdate: validatePriorityClassUpdate,
			TableColumns: []metav1.TableColumnDefinition{
				registry.Column("Value", "integer", schedulingv1.PriorityClass{}.SwaggerDoc()["value"], 0),
				registry.Column("Global-Default", "boolean", schedulingv1.PriorityClass{}.SwaggerDoc()["globalDefault"], 0),
				registry.Column("Age", "string", metav1.ObjectMeta{}.SwaggerDoc()["creationTimestamp"], 0),
				registry.Column("PreemptionPolicy", "string", schedulingv1.PriorityClass{}.SwaggerDoc()["preemptionPolicy"], 0),
			},
			TableRow: func(obj runtime.Object) []interface{} {
				pc := obj.(*schedulingv1.PriorityClass)
				policy := ""
				if pc.PreemptionPolicy != nil {
					policy = string(*pc.PreemptionPolicy)
				}
				return []interface{}{int64(pc.Value), pc.GlobalDefault, registry.Age(obj), policy}
			},
		},
	}
}

func validatePriorityClass(obj runtime.Object) field.ErrorList {
	pc := obj.(*schedulingv1.PriorityClass)
	var errs field.ErrorList
	if strings.HasPrefix(pc.Name, systemPrefix) {
		if err := checkSystemClass(pc); err != "" {
			errs = append(errs, field.Forbidden(field.NewPath("metadata", "name"), "priority class names with '"+systemPrefix+"' prefix are reserved for system use only. error: "+err))
		}
	} else if pc.Value > HighestUserDefinablePriority {
		errs = append(errs, field.Forbidden(field.NewPath("value"), fmt.Sprintf("maximum allowed value of a user defined priority is %v", HighestUserDefinablePriority)))
	}
	if pc.PreemptionPolicy != nil {
		switch *pc.PreemptionPolicy {
		case corev1.PreemptLowerPriority, corev1.PreemptNever:
		default:
			errs = append(errs, field.NotSupported(field.NewPath("preemptionPolicy"), *pc.PreemptionPolicy, []string{string(corev1.PreemptLowerPriority), string(corev1.PreemptNever)}))
		}
	}
	return errs
}

// checkSystemClass reports why pc may not use a system- name, or "".
func checkSystemClass(pc *schedulingv1.PriorityClass) string {
	for _, sys := range SystemPriorityClasses() {
		if sys.Name != pc.Name {
			continue
		}
		if sys.Value != pc.Value {
			return fmt.Sprintf("value of %v PriorityClass must be %v", sys.Name, sys.Value)
		}
		if pc.GlobalDefault {
			return fmt.Sprintf("globalDefault of %v PriorityClass must be false", sys.Name)
		}
		return ""
	}
	return fmt.Sprintf("%v is not a known system priority class", pc.Name)
}

func validatePriorityClassUpdate(obj, old runtime.Object) field.ErrorList {
	pc, oldPC := obj.(*schedulingv1.PriorityClass), old.(*schedulingv1.PriorityClass)
	var errs field.ErrorList
	if pc.Value != oldPC.Value {
		errs = append(errs, field.Forbidden(field.NewPath("value"), "may not be changed in an update."))
	}
	errs = append(errs, apivalidation.ValidateImmutableField(pc.PreemptionPolicy, oldPC.PreemptionPolicy, field.NewPath("preemptionPolicy"))...)
	return errs
}
