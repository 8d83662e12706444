package reconcile

import (
	"encoding/json"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
)

// ClaimDecision says what a controller does with one candidate object.
type ClaimDecision int

// The claim decisions.
const (
	// Ignore: owned by someone else, or neither owned nor matching.
	Ignore ClaimDecision = iota
	// Keep: owned by this controller and matching its selector.
	Keep
	// Adopt: an orphan that matches; patch in a controllerRef.
	Adopt
	// Release: owned but no longer matching; patch the controllerRef out.
	Release
)

// Claim decides, from the object's metadata alone, whether owner (with
// selector sel) keeps, adopts, releases or ignores it. Orphans are not
// adopted by an owner that is being deleted, and objects being deleted are
// neither adopted nor released.
func Claim(owner metav1.Object, sel labels.Selector, obj metav1.Object) ClaimDecision {
	ref := metav1.GetControllerOfNoCopy(obj)
	matches := sel.Matches(labels.Set(obj.GetLabels()))
	switch {
	case ref != nil && ref.UID != owner.GetUID():
		return Ignore
	case ref != nil && matches:
		return Keep
	case ref != nil:
		if obj.GetDeletionTimestamp() != nil {
			return Keep
		}
		return Release
	case matches && owner.GetDeletionTimestamp() == nil && obj.GetDeletionTimestamp() == nil:
		return Adopt
	}
	return Ignore
}

// AdoptPatch returns a strategic merge patch that adds a controllerRef to
// owner; the uid guards against adopting a recreated object of the same name.
func AdoptPatch(ref metav1.OwnerReference, objUID types.UID) []byte {
	b, _ := json.Marshal(map[string]any{"metadata": map[string]any{
		"ownerReferences": []metav1.OwnerReference{ref},
		"uid":             objUID,
	}})
	return b
}

// ReleasePatch returns a strategic merge patch that removes the owner
// reference with ownerUID.
func ReleasePatch(ownerUID, objUID types.UID) []byte {
	b, _ := json.Marshal(map[string]any{"metadata": map[string]any{
		"ownerReferences": []map[string]any{{"$patch": "delete", "uid": ownerUID}},
		"uid":             objUID,
	}})
	return b
}

// ControllerRef returns a controller owner reference to owner of kind gvk.
func ControllerRef(owner metav1.Object, apiVersion, kind string) metav1.OwnerReference {
	t := true
	return metav1.OwnerReference{
		APIVersion: apiVersion, Kind: kind, Name: owner.GetName(), UID: owner.GetUID(),
		Controller: &t, BlockOwnerDeletion: &t,
	}
}

// NamespaceTerminating reports whether err rejects a create because its
// namespace is being deleted; such creates are not retried.
func NamespaceTerminating(err error) bool {
	if apierrors.HasStatusCause(err, corev1.NamespaceTerminatingCause) {
		return true
	}
	// Accept the bare message too, for servers that omit the cause.
	return apierrors.IsForbidden(err) && strings.Contains(err.Error(), "because it is being terminated")
}
