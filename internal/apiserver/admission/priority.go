package admission

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	schedulingv1 "k8s.io/api/scheduling/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// priority is upstream's Priority plugin: a new pod's spec.priority and
// preemptionPolicy come from its PriorityClass (or the global default
// class, or 0), never from the user.
type priority struct {
	objects Objects
}

var _ Mutator = priority{}

var priorityClassesGVR = schema.GroupVersionResource{Group: schedulingv1.GroupName, Version: "v1", Resource: "priorityclasses"}

func (priority) Name() string { return "Priority" }

func (priority) Handles(op Operation) bool { return op == Create }

func (p priority) Admit(_ context.Context, a *Attributes) error {
	pod, ok := a.Object.(*corev1.Pod)
	if !ok || a.SubResource != "" || p.objects == nil {
		return nil
	}
	podsGR := schema.GroupResource{Resource: "pods"}
	var class *schedulingv1.PriorityClass
	if name := pod.Spec.PriorityClassName; name != "" {
		obj, found := p.objects.Get(priorityClassesGVR, "", name)
		pc, isPC := obj.(*schedulingv1.PriorityClass)
		if !found || !isPC {
			// Upstream refuses the pod ("no PriorityClass with name %s was
			// found"). A class created just before may not have reached
			// the cache this reads, so skiff leaves the priority to the
			// scheduler, which resolves the name again when it places
			// the pod.
			return nil
		}
		class = pc
	} else {
		for _, o := range p.objects.List(priorityClassesGVR, "") {
			if pc, ok := o.(*schedulingv1.PriorityClass); ok && pc.GlobalDefault && (class == nil || pc.CreationTimestamp.Before(&class.CreationTimestamp)) {
				class = pc
			}
		}
	}
	value := int32(0)
	policy := corev1.PreemptLowerPriority
	if class != nil {
		value = class.Value
		if class.PreemptionPolicy != nil {
			policy = *class.PreemptionPolicy
		}
		if pod.Spec.PriorityClassName == "" {
			pod.Spec.PriorityClassName = class.Name
		}
	}
	if pod.Spec.Priority != nil && *pod.Spec.Priority != value {
		return apierrors.NewForbidden(podsGR, a.Name, fmt.Errorf("the integer value of priority (%d) must not be provided in pod spec; priority admission controller computed %d from the given PriorityClass name", *pod.Spec.Priority, value))
	}
	if pod.Spec.PreemptionPolicy != nil && *pod.Spec.PreemptionPolicy != policy {
		return apierrors.NewForbidden(podsGR, a.Name, fmt.Errorf("the string value of PreemptionPolicy (%s) must not be provided in pod spec; priority admission controller computed %s from the given PriorityClass name", *pod.Spec.PreemptionPolicy, policy))
	}
	pod.Spec.Priority = &value
	pod.Spec.PreemptionPolicy = &policy
	return nil
}
