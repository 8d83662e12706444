// Package volumebinding implements VolumeBinding: it places pods whose
// PersistentVolumeClaims are bound, or will be bound (WaitForFirstConsumer),
// on nodes where those volumes can be reached, and binds the unbound ones
// for the node picked.
//
//	PreFilter  claims exist and are not being deleted; unbound Immediate
//	           claims make the pod wait for the PV binder
//	Filter     bound PVs' node affinity; for each unbound WaitForFirstConsumer
//	           claim, the smallest Available PV that matches it and fits the
//	           node, else dynamic provisioning (the class has a provisioner
//	           and its allowedTopologies fit the node)
//	Reserve    assumes the chosen PVs (claimRef set) in an in-memory cache,
//	           so that the next pods do not pick them
//	PreBind    writes PV.spec.claimRef for static matches and the
//	           volume.kubernetes.io/selected-node annotation for claims to
//	           provision, then waits (on informer events) until the PV
//	           binder and provisioners have bound every claim, up to
//	           bindTimeoutSeconds (600 s)
//	Unreserve  forgets the assumptions
//
// CSIStorageCapacity is not consulted: a node whose driver has no room is
// only found out by the provisioner (which then drops the selected-node
// annotation and the pod is retried).
package volumebinding
