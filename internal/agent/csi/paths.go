package csi

import (
	"crypto/sha256"
	"fmt"
	"path/filepath"

	"k8s.io/apimachinery/pkg/types"
)

// pluginName is the CSI volume plugin's name in the kubelet's layout.
const pluginName = "kubernetes.io~csi"

// Layout are the paths of CSI volumes under the agent's root folder, as
// upstream's kubelet lays them out.
type Layout struct{ Root string }

// RegistryDir holds the drivers' registration sockets.
func (l Layout) RegistryDir() string { return filepath.Join(l.Root, "plugins_registry") }

// stagingDir holds a staged volume's globalmount and vol_data.json.
func (l Layout) stagingDir(driver, handle string) string {
	return filepath.Join(l.Root, "plugins", "kubernetes.io", "csi", driver, fmt.Sprintf("%x", sha256.Sum256([]byte(handle))))
}

// StagingPath is where a volume is staged (NodeStageVolume's target).
func (l Layout) StagingPath(driver, handle string) string {
	return filepath.Join(l.stagingDir(driver, handle), "globalmount")
}

// podCSIDir holds a pod's CSI volumes.
func (l Layout) podCSIDir(uid types.UID) string {
	return filepath.Join(l.Root, "pods", string(uid), "volumes", pluginName)
}

// volumeDir holds one pod volume's mount and vol_data.json.
func (l Layout) volumeDir(uid types.UID, volume string) string {
	return filepath.Join(l.podCSIDir(uid), volume)
}

// PublishPath is where a pod's volume is published (NodePublishVolume's
// target), the host path its containers mount.
func (l Layout) PublishPath(uid types.UID, volume string) string {
	return filepath.Join(l.volumeDir(uid, volume), "mount")
}

// ephemeralHandle is the volume handle of an inline volume, as upstream
// makes it.
func ephemeralHandle(uid types.UID, volume string) string {
	return fmt.Sprintf("csi-%x", sha256.Sum256([]byte(string(uid)+volume)))
}

// attachmentName is the VolumeAttachment's name, as upstream's attacher
// (and the attach/detach controller) names it.
func attachmentName(handle, driver, node string) string {
	return fmt.Sprintf("csi-%x", sha256.Sum256([]byte(handle+driver+node)))
}
