// Package persistentvolume is the PersistentVolume binder (upstream's
// persistentvolume-binder controller): it binds PersistentVolumeClaims to
// PersistentVolumes, asks external provisioners for volumes, and reclaims
// volumes whose claim is gone.
//
// Two loops share one controller: claims keyed "namespace/name" and
// volumes keyed "name". Each sync re-reads both caches, decides with the
// pure functions of match.go and writes the result; every key is synced
// again every 15 s (upstream's resync) besides the informer events.
//
// A claim's life, as upstream's:
//
//	Pending ──bind (static PV, pre-bound PV, provisioned PV)──► Bound ──PV gone / claimRef lost──► Lost
//	   │
//	   ├─ no PV, class WaitForFirstConsumer without selected-node: WaitForFirstConsumer event
//	   ├─ no PV, class with a provisioner: storage-provisioner annotations + ExternalProvisioning event
//	   └─ no PV, no class: FailedBinding event
//
// A volume's:
//
//	Pending ─► Available ──bind──► Bound ──claim deleted──► Released ──reclaim──► (Retain: stays)
//	                                                                          (Delete by its provisioner: deleted by it)
//	                                                                          (Delete/Recycle with no plugin: Failed)
//
// skiff has no in-tree volume plugins: every provisioner and deleter is
// external, and a volume whose reclaim needs an in-tree plugin fails as
// it does upstream when the plugin is missing.
package persistentvolume
