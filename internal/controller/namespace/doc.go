// Package namespace empties namespaces that are being deleted.
//
// When a namespace has a deletionTimestamp, sync discovers every
// namespaced resource that can be listed and deleted, deletes its
// objects in the namespace (deletecollection where served, one by one
// otherwise), and records progress in the namespace's status conditions
// as upstream does:
//
//	NamespaceDeletionDiscoveryFailure       discovery failed for some groups
//	NamespaceDeletionGroupVersionParsingFailure
//	NamespaceDeletionContentFailure         a delete call failed
//	NamespaceContentRemaining               objects still exist
//	NamespaceFinalizersRemaining            remaining objects carry finalizers
//
// Once nothing remains it removes the "kubernetes" finalizer through the
// namespaces/{name}/finalize subresource, and the API server deletes the
// namespace. While objects remain (graceful pod termination, finalizers)
// the namespace is requeued.
package namespace
