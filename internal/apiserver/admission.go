package apiserver

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// immortalNamespaces may never be deleted.
var immortalNamespaces = map[string]bool{"default": true, "kube-system": true, "kube-public": true}

// admitCreate refuses objects in namespaces that do not exist or are being
// deleted, as upstream's NamespaceLifecycle admission does, and mirror pods
// that refer to API objects (admitMirrorPod).
func (s *Server) admitCreate(ctx context.Context, res *resource, obj runtime.Object) error {
	if !res.Namespaced {
		return nil
	}
	if err := admitMirrorPod(res, obj); err != nil {
		return err
	}
	ns := accessor(obj).GetNamespace()
	nsRes, ok := s.lookup("", "v1", "namespaces")
	if !ok {
		return nil
	}
	var nsObj runtime.Object
	if e, found := s.cache.Get(nsRes.bucket, nsRes.key("", ns)); found {
		nsObj = e.Object
	} else {
		o, err := s.readObject(ctx, nsRes, "", ns)
		if err != nil {
			return err
		}
		nsObj = o
	}
	if n, ok := nsObj.(*corev1.Namespace); ok && (n.Status.Phase == corev1.NamespaceTerminating || n.DeletionTimestamp != nil) {
		err := apierrors.NewForbidden(res.groupResource(), accessor(obj).GetName(),
			fmt.Errorf("unable to create new content in namespace %s because it is being terminated", ns))
		err.ErrStatus.Details.Causes = append(err.ErrStatus.Details.Causes, metav1.StatusCause{
			Type: corev1.NamespaceTerminatingCause, Message: fmt.Sprintf("namespace %s is being terminated", ns), Field: "metadata.namespace"})
		return err
	}
	return nil
}

// defaultTolerationSeconds is how long pods stay on a node that is not
// ready or unreachable before they are evicted, unless they say otherwise.
const defaultTolerationSeconds = 300

// mutateCreate applies the mutating admission upstream enables by default:
// pods tolerate not-ready and unreachable nodes for five minutes
// (DefaultTolerationSeconds).
func mutateCreate(obj runtime.Object) {
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		return
	}
	secs := int64(defaultTolerationSeconds)
	for _, key := range []string{corev1.TaintNodeNotReady, corev1.TaintNodeUnreachable} {
		has := false
		for _, t := range pod.Spec.Tolerations {
			if (t.Key == key || t.Key == "") && (t.Effect == corev1.TaintEffectNoExecute || t.Effect == "") {
				has = true
				break
			}
		}
		if !has {
			s := secs
			pod.Spec.Tolerations = append(pod.Spec.Tolerations, corev1.Toleration{
				Key: key, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute, TolerationSeconds: &s})
		}
	}
	addServiceAccountVolume(pod)
}

// serviceAccountMountPath is where pods find their API credentials.
const serviceAccountMountPath = "/var/run/secrets/kubernetes.io/serviceaccount"

// addServiceAccountVolume does what upstream's ServiceAccount admission
// does to a new pod: default its service account to "default" and, unless
// it opts out, add the kube-api-access-<random> projected volume (a bound
// token, the cluster CA and the namespace) mounted in every container.
// Mirror pods are left alone, as upstream.
func addServiceAccountVolume(pod *corev1.Pod) {
	if _, mirror := pod.Annotations[corev1.MirrorPodAnnotationKey]; mirror {
		return
	}
	if pod.Spec.ServiceAccountName == "" {
		pod.Spec.ServiceAccountName = "default"
		// The deprecated alias follows, as defaulting would make it on the
		// next update (which would then read as a spec change).
		pod.Spec.DeprecatedServiceAccount = pod.Spec.ServiceAccountName
	}
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

// admitDelete refuses to delete the namespaces the system needs.
func admitDelete(res *resource, name string) error {
	if res.gvr.Group == "" && res.gvr.Resource == "namespaces" && immortalNamespaces[name] {
		return apierrors.NewForbidden(res.groupResource(), name, errors.New("this namespace may not be deleted"))
	}
	return nil
}
