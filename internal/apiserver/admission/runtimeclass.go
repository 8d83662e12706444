package admission

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	nodev1 "k8s.io/api/node/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// runtimeClass is upstream's RuntimeClass plugin: a new pod that names a
// RuntimeClass gets the class's pod overhead and scheduling constraints
// (node selector and tolerations); a class that does not exist, an
// overhead that contradicts the class's, or a node selector that
// conflicts with it refuses the pod.
type runtimeClass struct {
	objects Objects
}

var _ Mutator = runtimeClass{}

var runtimeClassesGVR = schema.GroupVersionResource{Group: nodev1.GroupName, Version: "v1", Resource: "runtimeclasses"}

func (runtimeClass) Name() string { return "RuntimeClass" }

func (runtimeClass) Handles(op Operation) bool { return op == Create }

func (p runtimeClass) Admit(_ context.Context, a *Attributes) error {
	pod, ok := a.Object.(*corev1.Pod)
	if !ok || a.SubResource != "" || pod.Spec.RuntimeClassName == nil || *pod.Spec.RuntimeClassName == "" {
		return nil
	}
	podsGR := schema.GroupResource{Resource: "pods"}
	name := *pod.Spec.RuntimeClassName
	obj, found := p.objects.Get(runtimeClassesGVR, "", name)
	rc, isRC := obj.(*nodev1.RuntimeClass)
	if !found || !isRC {
		return apierrors.NewForbidden(podsGR, a.Name, fmt.Errorf("pod rejected: RuntimeClass %q not found", name))
	}
	if rc.Overhead != nil {
		if pod.Spec.Overhead != nil && !apiequality.Semantic.DeepEqual(pod.Spec.Overhead, rc.Overhead.PodFixed) {
			return apierrors.NewForbidden(podsGR, a.Name, fmt.Errorf("pod rejected: Pod's Overhead doesn't match RuntimeClass's defined Overhead"))
		}
		pod.Spec.Overhead = rc.Overhead.PodFixed.DeepCopy()
	} else if pod.Spec.Overhead != nil {
		return apierrors.NewForbidden(podsGR, a.Name, fmt.Errorf("pod rejected: Pod Overhead set without corresponding RuntimeClass defined Overhead"))
	}
	if s := rc.Scheduling; s != nil {
		for k, v := range s.NodeSelector {
			if cur, ok := pod.Spec.NodeSelector[k]; ok && cur != v {
				return apierrors.NewForbidden(podsGR, a.Name, fmt.Errorf("conflict: runtimeClass.scheduling.nodeSelector[%s] = %s; pod.spec.nodeSelector[%s] = %s", k, v, k, cur))
			}
			if pod.Spec.NodeSelector == nil {
				pod.Spec.NodeSelector = map[string]string{}
			}
			pod.Spec.NodeSelector[k] = v
		}
		for _, t := range s.Tolerations {
			dup := false
			for _, have := range pod.Spec.Tolerations {
				if apiequality.Semantic.DeepEqual(have, t) {
					dup = true
					break
				}
			}
			if !dup {
				pod.Spec.Tolerations = append(pod.Spec.Tolerations, t)
			}
		}
	}
	return nil
}
