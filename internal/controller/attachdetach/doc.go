// Package attachdetach is the attach/detach controller (upstream's
// "attachdetach", ServiceAccount attachdetach-controller) for CSI volumes.
//
// It keys by node. For every node, sync computes the desired
// VolumeAttachments: one per CSI persistent volume that a pod scheduled to
// the node uses (through a bound claim) when the volume's CSIDriver
// requires attach (attachRequired, true when there is no CSIDriver object,
// as upstream). It creates the missing VolumeAttachments, named as
// upstream's CSI attacher names them (csi-<sha256(handle+driver+node)>),
// and deletes those of the node no pod needs anymore, once the node no
// longer reports the volume in status.volumesInUse. The external attacher
// of each driver attaches them; this controller then lists the attached
// ones in the Node's status.volumesAttached.
//
// A pod keeps its volumes attached until it is deleted, finished or not:
// skiff's agent unpublishes a pod's volumes only when the pod goes (before
// it deletes the pod object), so detaching a finished pod's volume could
// pull it from under a mount. Inline (ephemeral) CSI volumes are never
// attached, as upstream.
package attachdetach
