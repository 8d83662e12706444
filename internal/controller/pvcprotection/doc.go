// Package pvcprotection is upstream's persistentvolumeclaim-protection
// controller: a PersistentVolumeClaim being deleted keeps its
// kubernetes.io/pvc-protection finalizer while a scheduled pod that has
// not terminated uses it (directly, or as a generic ephemeral volume),
// and loses it once none does; a claim not being deleted that lacks the
// finalizer gets it. Before removing the finalizer it checks the pod
// cache and then a live list of the namespace's pods, as upstream, so a
// pod the cache has not seen yet still protects the claim.
package pvcprotection
