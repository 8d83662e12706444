package admission

import (
	"context"
	"fmt"
	"math/rand/v2"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// serviceAccountMountPath is where pods find their API credentials.
const serviceAccountMountPath = "/var/run/secrets/kubernetes.io/serviceaccount"

// serviceAccount is the mutating half of upstream's ServiceAccount
// admission (the refusal of mirror pods' references is mirrorPod).
type serviceAccount struct {
	// objects reads the pod's ServiceAccount, whose
	// automountServiceAccountToken applies when the pod says nothing.
	objects Objects
}

var (
	_ Mutator   = serviceAccount{}
	_ Validator = serviceAccount{}
)

var serviceAccountsGVR = schema.GroupVersionResource{Version: "v1", Resource: "serviceaccounts"}

func (serviceAccount) Name() string { return "ServiceAccount" }

func (serviceAccount) Handles(op Operation) bool { return op == Create }

func (p serviceAccount) Admit(ctx context.Context, a *Attributes) error {
	pod, ok := a.Object.(*corev1.Pod)
	if !ok || a.SubResource != "" {
		return nil
	}
	if _, mirror := pod.Annotations[corev1.MirrorPodAnnotationKey]; mirror || p.objects == nil {
		addServiceAccountVolume(pod)
		return nil
	}
	name := pod.Spec.ServiceAccountName
	if name == "" {
		name = "default"
	}
	// A missing account is refused by Validate, after the namespace's
	// own checks.
	obj, _ := p.objects.Get(serviceAccountsGVR, a.Namespace, name)
	if sa, ok := obj.(*corev1.ServiceAccount); ok && pod.Spec.AutomountServiceAccountToken == nil &&
		sa.AutomountServiceAccountToken != nil && !*sa.AutomountServiceAccountToken {
		// The account opts out, and the pod does not opt back in.
		defaultServiceAccount(pod)
		return nil
	}
	addServiceAccountVolume(pod)
	return nil
}

// Validate refuses a new pod whose service account does not exist, as
// upstream's plugin does. Mirror pods name none (MirrorPod refuses them).
func (p serviceAccount) Validate(ctx context.Context, a *Attributes) error {
	pod, ok := a.Object.(*corev1.Pod)
	if !ok || a.SubResource != "" || p.objects == nil {
		return nil
	}
	if _, mirror := pod.Annotations[corev1.MirrorPodAnnotationKey]; mirror {
		return nil
	}
	name := pod.Spec.ServiceAccountName
	if name == "" {
		return forbidden(a, fmt.Errorf("no service account specified for pod %s/%s", a.Namespace, pod.Name))
	}
	if _, err := p.serviceAccount(ctx, a.Namespace, name); err != nil {
		return forbidden(a, fmt.Errorf("error looking up service account %s/%s: %w", a.Namespace, name, err))
	}
	return nil
}

// serviceAccount reads namespace/name. The "default" account of a new
// namespace may not be made yet: it is waited for a little (up to ten
// tries 100 to 200 ms apart), as upstream's plugin does, since the
// serviceaccount controller creates it right after the namespace.
func (p serviceAccount) serviceAccount(ctx context.Context, namespace, name string) (*corev1.ServiceAccount, error) {
	tries := 1
	if name == "default" {
		tries = 10
	}
	for i := 0; ; i++ {
		if obj, found := p.objects.Get(serviceAccountsGVR, namespace, name); found {
			if sa, ok := obj.(*corev1.ServiceAccount); ok {
				return sa, nil
			}
		}
		if i+1 >= tries {
			return nil, fmt.Errorf("serviceaccount %q not found", name)
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(time.Duration(100+rand.IntN(100)) * time.Millisecond):
		}
	}
}

// defaultServiceAccount names the "default" service account for a pod
// that names none.
func defaultServiceAccount(pod *corev1.Pod) {
	if pod.Spec.ServiceAccountName == "" {
		pod.Spec.ServiceAccountName = "default"
		// The deprecated alias follows, as defaulting would make it on the
		// next update (which would then read as a spec change).
		pod.Spec.DeprecatedServiceAccount = pod.Spec.ServiceAccountName
	}
}

// addServiceAccountVolume does what upstream's ServiceAccount admission
// does to a new pod: default its service account to "default" and, unless
// it opts out, add the kube-api-access-<random> projected volume (a bound
// token, the cluster CA and the namespace) mounted in every container.
// Mirror pods are left alone, as upstream.
func addServiceAccountVolume(pod *corev1.Pod) {
	if _, mirror := pod.Annotations[corev1.MirrorPodAnnotationKey]; mirror {
		return
	}
	defaultServiceAccount(pod)
	if pod.Spec.AutomountServiceAccountToken != nil && !*pod.Spec.AutomountServiceAccountToken {
		return
	}
	mounted := func(c *corev1.Container) bool {
		for _, m := range c.VolumeMounts {
			if m.MountPath == serviceAccountMountPath {
				return true
			}
		}
		return false
	}
	for _, cs := range [][]corev1.Container{pod.Spec.InitContainers, pod.Spec.Containers} {
		for i := range cs {
			if mounted(&cs[i]) {
				return
			}
		}
	}
	const letters = "bcdfghjklmnpqrstvwxz2456789"
	suffix := make([]byte, 5)
	for i := range suffix {
		suffix[i] = letters[rand.IntN(len(letters))]
	}
	name := "kube-api-access-" + string(suffix)
	expiration, mode := int64(3607), int32(0o644)
	pod.Spec.Volumes = append(pod.Spec.Volumes, corev1.Volume{Name: name, VolumeSource: corev1.VolumeSource{
		Projected: &corev1.ProjectedVolumeSource{DefaultMode: &mode, Sources: []corev1.VolumeProjection{
			{ServiceAccountToken: &corev1.ServiceAccountTokenProjection{ExpirationSeconds: &expiration, Path: "token"}},
			{ConfigMap: &corev1.ConfigMapProjection{
				LocalObjectReference: corev1.LocalObjectReference{Name: "kube-root-ca.crt"},
				Items:                []corev1.KeyToPath{{Key: "ca.crt", Path: "ca.crt"}},
			}},
			{DownwardAPI: &corev1.DownwardAPIProjection{Items: []corev1.DownwardAPIVolumeFile{{
				Path: "namespace", FieldRef: &corev1.ObjectFieldSelector{APIVersion: "v1", FieldPath: "metadata.namespace"},
			}}}},
		}},
	}})
	mount := corev1.VolumeMount{Name: name, ReadOnly: true, MountPath: serviceAccountMountPath}
	for i := range pod.Spec.InitContainers {
		pod.Spec.InitContainers[i].VolumeMounts = append(pod.Spec.InitContainers[i].VolumeMounts, mount)
	}
	for i := range pod.Spec.Containers {
		pod.Spec.Containers[i].VolumeMounts = append(pod.Spec.Containers[i].VolumeMounts, mount)
	}
}
