package admission

import (
	"context"
	"errors"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
)

// mirrorPod refuses mirror pods (the API's copies of a node's static
// pods) that refer to API objects, as upstream's ServiceAccount admission
// does: a static pod runs without the API, so it may not depend on
// service accounts, secrets or config maps.
type mirrorPod struct{}

var _ Validator = mirrorPod{}

func (mirrorPod) Name() string { return "MirrorPod" }

func (mirrorPod) Handles(op Operation) bool { return op == Create }

func (mirrorPod) Validate(_ context.Context, a *Attributes) error {
	pod, ok := a.Object.(*corev1.Pod)
	if !ok || a.Namespace == "" {
		return nil
	}
	if _, mirror := pod.Annotations[corev1.MirrorPodAnnotationKey]; !mirror {
		return nil
	}
	if msg := mirrorPodReference(pod); msg != "" {
		return apierrors.NewForbidden(a.Resource.GroupResource(), pod.Name, errors.New(msg))
	}
	return nil
}

// mirrorPodReference says which API object a mirror pod refers to, or "".
func mirrorPodReference(pod *corev1.Pod) string {
	if pod.Spec.ServiceAccountName != "" {
		return "a mirror pod may not reference service accounts"
	}
	for _, v := range pod.Spec.Volumes {
		switch {
		case v.Secret != nil:
			return "a mirror pod may not reference secrets"
		case v.ConfigMap != nil:
			return "a mirror pod may not reference configmaps"
		case v.PersistentVolumeClaim != nil:
			return "a mirror pod may not reference persistentvolumeclaims"
		case v.Projected != nil:
			for _, s := range v.Projected.Sources {
				switch {
				case s.Secret != nil:
					return "a mirror pod may not reference secrets"
				case s.ConfigMap != nil:
					return "a mirror pod may not reference configmaps"
				case s.ServiceAccountToken != nil:
					return "a mirror pod may not use ServiceAccountToken volume projections"
				}
			}
		}
	}
	var containers []corev1.Container
	containers = append(containers, pod.Spec.InitContainers...)
	containers = append(containers, pod.Spec.Containers...)
	for _, c := range containers {
		for _, e := range c.EnvFrom {
			if e.SecretRef != nil {
				return "a mirror pod may not reference secrets"
			}
			if e.ConfigMapRef != nil {
				return "a mirror pod may not reference configmaps"
			}
		}
		for _, e := range c.Env {
			if e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil {
				return "a mirror pod may not reference secrets"
			}
			if e.ValueFrom != nil && e.ValueFrom.ConfigMapKeyRef != nil {
				return "a mirror pod may not reference configmaps"
			}
		}
	}
	if len(pod.Spec.ImagePullSecrets) > 0 {
		return "a mirror pod may not reference secrets"
	}
	return ""
}
