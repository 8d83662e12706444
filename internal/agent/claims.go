package agent

import (
	"context"
	"errors"
	"fmt"
	"os"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// claimName is the PersistentVolumeClaim a pod volume uses: the one it
// names, or its generic ephemeral volume's <pod>-<volume>.
func claimName(pod *corev1.Pod, v *corev1.Volume) (name string, readOnly, ok bool) {
	switch {
	case v.PersistentVolumeClaim != nil:
		return v.PersistentVolumeClaim.ClaimName, v.PersistentVolumeClaim.ReadOnly, true
	case v.Ephemeral != nil:
		return pod.Name + "-" + v.Name, false, true
	}
	return "", false, false
}

// claimVolumePath resolves a pod's claim to its bound PersistentVolume and
// returns the host path its containers mount: a local or hostPath PV's
// path (local-path volumes of this node once the local-path loop has seen
// them), or where mountCSI publishes a CSI volume. Errors carry upstream's
// messages, reported as FailedMount and retried by the pod worker.
func (a *Agent) claimVolumePath(ctx context.Context, pod *corev1.Pod, v *corev1.Volume) (string, error) {
	name, readOnly, _ := claimName(pod, v)
	key := pod.Namespace + "/" + name
	pvc, err := a.cfg.Client.CoreV1().PersistentVolumeClaims(pod.Namespace).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return "", fmt.Errorf("error processing PVC %s: %w", key, err)
	}
	if v.Ephemeral != nil && !metav1.IsControlledBy(pvc, pod) {
		return "", fmt.Errorf("error processing PVC %s: PVC was not created for pod %s (pod is not owner)", key, pod.Namespace+"/"+pod.Name)
	}
	if pvc.DeletionTimestamp != nil {
		return "", fmt.Errorf("error processing PVC %s: PVC is being deleted", key)
	}
	if pvc.Status.Phase != corev1.ClaimBound || pvc.Spec.VolumeName == "" {
		return "", fmt.Errorf("error processing PVC %s: PVC is not bound", key)
	}
	pv, err := a.cfg.Client.CoreV1().PersistentVolumes().Get(ctx, pvc.Spec.VolumeName, metav1.GetOptions{})
	if err != nil {
		return "", fmt.Errorf("error processing PVC %s: failed to fetch PV %s: %w", key, pvc.Spec.VolumeName, err)
	}
	if ref := pv.Spec.ClaimRef; ref == nil || ref.Namespace != pvc.Namespace || ref.Name != pvc.Name || (ref.UID != "" && ref.UID != pvc.UID) {
		return "", fmt.Errorf("error processing PVC %s: PV %s is not bound to it", key, pv.Name)
	}
	var p string
	switch {
	case pv.Spec.Local != nil:
		p = pv.Spec.Local.Path
		if a.localPaths != nil && pv.Labels[LocalPathNodeLabel] == a.cfg.NodeName {
			wctx, cancel := context.WithTimeout(ctx, localPathWait)
			p, err = a.localPaths.volumePath(wctx, pv)
			cancel()
			if err != nil {
				return "", fmt.Errorf("MountVolume.SetUp failed for volume %q : %w", pv.Name, err)
			}
		}
		if _, err := os.Stat(p); errors.Is(err, os.ErrNotExist) {
			return "", fmt.Errorf("MountVolume.NewMounter initialization failed for volume %q : path %q does not exist", pv.Name, p)
		}
		// Like upstream's local volumes, and unlike hostPath, a local
		// volume takes the pod's fsGroup, once per pod (upstream's mount).
		a.mu.Lock()
		done := a.claimsOwned[pod.UID][v.Name]
		a.mu.Unlock()
		if !done {
			if err := setVolumeOwnership(p, pod.Spec.SecurityContext, readOnly); err != nil {
				return "", fmt.Errorf("MountVolume.SetUp failed for volume %q : fsGroup: %w", pv.Name, err)
			}
			a.mu.Lock()
			if a.claimsOwned[pod.UID] == nil {
				a.claimsOwned[pod.UID] = map[string]bool{}
			}
			a.claimsOwned[pod.UID][v.Name] = true
			a.mu.Unlock()
		}
	case pv.Spec.HostPath != nil:
		p = pv.Spec.HostPath.Path
		if err := checkHostPath(p, pv.Spec.HostPath.Type); err != nil {
			return "", fmt.Errorf("MountVolume.SetUp failed for volume %q : %w", pv.Name, err)
		}
	case pv.Spec.CSI != nil:
		return a.mountCSI(ctx, pod, v, pv)
	default:
		return "", fmt.Errorf("MountVolume.NewMounter initialization failed for volume %q : volume source of PV %s is not supported on this node", pv.Name, pv.Name)
	}
	return p, nil
}
