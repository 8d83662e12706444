package agent

import (
	"context"
	"fmt"
	"path/filepath"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
)

// CSIVolumes mounts CSI volumes through the drivers registered on the node
// (implemented by agent/csi). Both methods are idempotent: Mount runs on
// every sync of a pod, TearDown until it succeeds.
type CSIVolumes interface {
	// Mount makes the CSI volume vol of pod available at a host path:
	// pv is the bound PersistentVolume of a claim (its spec.csi set), nil
	// for an inline (ephemeral) csi volume. It waits for the volume's
	// VolumeAttachment when its driver requires attach, stages it when the
	// driver stages, and publishes it into the pod's volume folder.
	Mount(ctx context.Context, pod *corev1.Pod, vol *corev1.Volume, pv *corev1.PersistentVolume) (CSIMount, error)
	// TearDown unpublishes every CSI volume of the pod with uid, and
	// unstages those no other pod on the node publishes. It reads what to
	// undo from the pod's folder alone, so it works for pods the agent
	// learns of only from the disk (after a restart).
	TearDown(ctx context.Context, uid types.UID) error
	// InUse lists the node's published persistent CSI volumes, sorted, as
	// the Node's status.volumesInUse names them: the attach/detach
	// controller does not detach them.
	InUse() []corev1.UniqueVolumeName
}

// CSIMount is a published CSI volume.
type CSIMount struct {
	// Path is the host path the pod's containers mount.
	Path string
	// SetOwnership asks the agent to apply the pod's fsGroup to the
	// volume's files, as the CSIDriver's fsGroupPolicy says.
	SetOwnership bool
}

// mountCSI mounts a CSI volume (pv nil: the volume's inline csi source)
// and applies fsGroup when the driver asks; it returns the host path.
func (a *Agent) mountCSI(ctx context.Context, pod *corev1.Pod, v *corev1.Volume, pv *corev1.PersistentVolume) (string, error) {
	if a.cfg.CSI == nil {
		return "", fmt.Errorf("MountVolume.SetUp failed for volume %q : CSI volumes are not supported on this node", v.Name)
	}
	m, err := a.cfg.CSI.Mount(ctx, pod, v, pv)
	// The node's volumesInUse may have changed, even by a failed mount.
	a.pool.add(item{a: a, kind: itemNode})
	if err != nil {
		return "", fmt.Errorf("MountVolume.SetUp failed for volume %q : %w", v.Name, err)
	}
	if m.SetOwnership {
		if err := setVolumeOwnership(m.Path, pod.Spec.SecurityContext, false); err != nil {
			return "", fmt.Errorf("volume %s: fsGroup: %w", v.Name, err)
		}
	}
	return m.Path, nil
}

// teardownCSI unpublishes the pod's CSI volumes before its folder goes.
func (a *Agent) teardownCSI(ctx context.Context, uid types.UID) error {
	if a.cfg.CSI == nil {
		return nil
	}
	err := a.cfg.CSI.TearDown(ctx, uid)
	a.pool.add(item{a: a, kind: itemNode})
	if err != nil {
		return fmt.Errorf("tear down csi volumes of %s: %w", filepath.Base(a.podDir(uid)), err)
	}
	return nil
}
