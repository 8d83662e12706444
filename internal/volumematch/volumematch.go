// Package volumematch decides which PersistentVolumes can serve a claim,
// as upstream's binder and scheduler decide it with one shared function:
// the PV binder (controller/persistentvolume) and the scheduler's
// VolumeBinding plugin both match through it, so they never disagree on a
// volume. It is pure: no client, no cache.
package volumematch

import (
	"slices"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
)

// ClaimClass is the class a claim asks for: the beta annotation first,
// then spec.storageClassName; "" for none.
func ClaimClass(c *corev1.PersistentVolumeClaim) string {
	if v, ok := c.Annotations[corev1.BetaStorageClassAnnotation]; ok {
		return v
	}
	if c.Spec.StorageClassName != nil {
		return *c.Spec.StorageClassName
	}
	return ""
}

// VolumeClass is the class of a volume, the beta annotation first.
func VolumeClass(v *corev1.PersistentVolume) string {
	if c, ok := v.Annotations[corev1.BetaStorageClassAnnotation]; ok {
		return c
	}
	return v.Spec.StorageClassName
}

// VolumeMode is a claim's or a volume's mode: unset is Filesystem.
func VolumeMode(m *corev1.PersistentVolumeMode) corev1.PersistentVolumeMode {
	if m == nil {
		return corev1.PersistentVolumeFilesystem
	}
	return *m
}

// AccessModesContain reports whether have has every mode of want.
func AccessModesContain(have, want []corev1.PersistentVolumeAccessMode) bool {
	for _, m := range want {
		if !slices.Contains(have, m) {
			return false
		}
	}
	return true
}

// BoundToClaim reports whether the volume's claimRef names the claim (a
// claimRef without UID names any claim of that name).
func BoundToClaim(v *corev1.PersistentVolume, c *corev1.PersistentVolumeClaim) bool {
	r := v.Spec.ClaimRef
	if r == nil || r.Name != c.Name || r.Namespace != c.Namespace {
		return false
	}
	return r.UID == "" || r.UID == c.UID
}

func attributesClass(n *string) string {
	if n == nil {
		return ""
	}
	return *n
}

// Result is what a volume is to a claim.
type Result int

const (
	// No: the volume cannot serve the claim.
	No Result = iota
	// Yes: an Available, unclaimed volume that fits.
	Yes
	// Prebound: the volume's claimRef names the claim, and it fits.
	Prebound
)

// Matcher matches volumes to one claim; build it once per claim.
type Matcher struct {
	claim     *corev1.PersistentVolumeClaim
	class     string
	attrClass string
	mode      corev1.PersistentVolumeMode
	requested resource.Quantity
	selector  labels.Selector
}

// New returns the claim's matcher; an error for a claim whose selector
// does not parse (upstream's message).
func New(c *corev1.PersistentVolumeClaim) (*Matcher, error) {
	m := &Matcher{claim: c, class: ClaimClass(c), attrClass: attributesClass(c.Spec.VolumeAttributesClassName),
		mode: VolumeMode(c.Spec.VolumeMode), requested: c.Spec.Resources.Requests[corev1.ResourceStorage]}
	if c.Spec.Selector != nil {
		s, err := metav1.LabelSelectorAsSelector(c.Spec.Selector)
		if err != nil {
			return nil, err
		}
		m.selector = s
	}
	return m, nil
}

// Match says whether v can serve the claim, as upstream's
// FindMatchingVolume: a volume being deleted, too small, of another
// volumeMode or volume attributes class, or without the claim's access
// modes never does; one whose claimRef names the claim is Prebound; any
// other must be Available, unclaimed, of the claim's class and match its
// selector. Node affinity is the caller's (the scheduler's) to check.
func (m *Matcher) Match(v *corev1.PersistentVolume) Result {
	if v.DeletionTimestamp != nil || VolumeMode(v.Spec.VolumeMode) != m.mode ||
		attributesClass(v.Spec.VolumeAttributesClassName) != m.attrClass ||
		!AccessModesContain(v.Spec.AccessModes, m.claim.Spec.AccessModes) {
		return No
	}
	capacity := v.Spec.Capacity[corev1.ResourceStorage]
	if capacity.Cmp(m.requested) < 0 {
		return No
	}
	if v.Spec.ClaimRef != nil {
		if BoundToClaim(v, m.claim) {
			return Prebound
		}
		return No
	}
	if v.Status.Phase != corev1.VolumeAvailable || VolumeClass(v) != m.class {
		return No
	}
	if m.selector != nil && !m.selector.Matches(labels.Set(v.Labels)) {
		return No
	}
	return Yes
}
