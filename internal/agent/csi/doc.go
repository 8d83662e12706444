// Package csi is the node side of CSI for the agent, as upstream's kubelet
// does it: plugin registration, the CSINode object, and the CSI node API
// calls that mount CSI volumes into pods (it implements agent.CSIVolumes).
//
// Registration. A driver's registrar (node-driver-registrar) puts a unix
// socket in <root>/plugins_registry serving the kubelet plugin
// registration API. Run scans the folder; for a new socket it calls
// GetInfo, and for a CSIPlugin connects to the driver's endpoint, calls
// NodeGetInfo and NodeGetCapabilities, records the driver in the node's
// CSINode (nodeID, topology keys, allocatable count), adds its node ID to
// the Node's csi.volume.kubernetes.io/nodeid annotation and its topology
// segments to the Node's labels, then calls NotifyRegistrationStatus.
// When the socket goes, the driver is removed from the CSINode and the
// annotation. Run creates the node's CSINode (no drivers) at start.
//
// Mounting. Mount waits for the VolumeAttachment when the driver requires
// attach, stages a persistent volume at
// <root>/plugins/kubernetes.io/csi/<driver>/<sha256(handle)>/globalmount
// when the driver has STAGE_UNSTAGE_VOLUME, and publishes it at
// <root>/pods/<uid>/volumes/kubernetes.io~csi/<volume>/mount. Beside each
// mount a vol_data.json records what was done, so that TearDown (and
// unstaging) works from the disk alone after a restart.
package csi
