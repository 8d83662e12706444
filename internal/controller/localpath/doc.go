// Package localpath is skiff's built-in storage provisioner
// skiff.io/local-path (controller "local-path", ServiceAccount
// kube-system/local-path-provisioner). It acts as an external provisioner
// does upstream: it never binds, the PV binder does.
//
//	PVC with volume.kubernetes.io/storage-provisioner=skiff.io/local-path
//	    and volume.kubernetes.io/selected-node=N (set by the scheduler)
//	  -> PV pvc-<claim UID>: local.path <N's skiff.io/storage-dir>/pvc-<UID>,
//	     required node affinity on N's hostname, label
//	     skiff.io/local-path-node=N, pre-bound to the claim
//	  -> the binder binds; N's agent creates the directory (and its quota)
//	PV Released with reclaim Delete -> the PV is deleted; the agent removes
//	     the directory once the PV is gone
//	bound claim asks for more (class allows expansion) -> PV capacity
//	     raised, then the claim's status.capacity (the agent raises the quota)
//
// Claims and volumes each have a loop; handlers only enqueue, syncs re-read
// from the listers. decide (pure) builds the PV; sync writes it.
package localpath
