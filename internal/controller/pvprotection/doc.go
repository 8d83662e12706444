// Package pvprotection is upstream's persistentvolume-protection
// controller: a PersistentVolume being deleted keeps its
// kubernetes.io/pv-protection finalizer while it is Bound, and loses it
// once it is not; a volume not being deleted that lacks the finalizer
// (created before the StorageObjectInUseProtection admission plugin ran)
// gets it.
package pvprotection
