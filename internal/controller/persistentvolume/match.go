package persistentvolume

import (
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"

	"skiff/internal/volumematch"
)

// Annotations and names the binder reads and writes, as upstream spells
// them.
const (
	AnnBindCompleted      = "pv.kubernetes.io/bind-completed"
	AnnBoundByController  = "pv.kubernetes.io/bound-by-controller"
	AnnSelectedNode       = "volume.kubernetes.io/selected-node"
	AnnStorageProvisioner = "volume.kubernetes.io/storage-provisioner"
	// AnnBetaStorageProvisioner is the older name of
	// AnnStorageProvisioner; the binder sets both, as upstream.
	AnnBetaStorageProvisioner = "volume.beta.kubernetes.io/storage-provisioner"
	AnnDynamicallyProvisioned = "pv.kubernetes.io/provisioned-by"
	annBetaStorageClass       = "volume.beta.kubernetes.io/storage-class"
	annDefaultClass           = "storageclass.kubernetes.io/is-default-class"
	annBetaDefaultClass       = "storageclass.beta.kubernetes.io/is-default-class"
)

// claimHasClass reports whether the claim names a class at all ("" is a
// class: "no class"); nil spec.storageClassName without the annotation is
// none.
func claimHasClass(c *corev1.PersistentVolumeClaim) bool {
	_, ok := c.Annotations[annBetaStorageClass]
	return ok || c.Spec.StorageClassName != nil
}

func claimVAC(c *corev1.PersistentVolumeClaim) string {
	if c.Spec.VolumeAttributesClassName != nil {
		return *c.Spec.VolumeAttributesClassName
	}
	return ""
}

func volumeVAC(v *corev1.PersistentVolume) string {
	if v.Spec.VolumeAttributesClassName != nil {
		return *v.Spec.VolumeAttributesClassName
	}
	return ""
}

func volumeStorage(v *corev1.PersistentVolume) int64 {
	q := v.Spec.Capacity[corev1.ResourceStorage]
	return q.Value()
}

func claimRequest(c *corev1.PersistentVolumeClaim) int64 {
	q := c.Spec.Resources.Requests[corev1.ResourceStorage]
	return q.Value()
}

// findBestMatch is upstream's findBestMatchForClaim: the volume pre-bound
// to the claim if any; otherwise the smallest Available volume that
// satisfies the claim's capacity, class, volumeMode, volume attributes
// class and selector, looked for first among the volumes with the fewest
// access modes that still include the claim's. Volumes claimRef'd to
// another claim and volumes being deleted are skipped. With delayBinding
// (a WaitForFirstConsumer class) only a pre-bound volume is returned: the
// scheduler binds the others. It returns nil when nothing fits.
func findBestMatch(c *corev1.PersistentVolumeClaim, volumes []*corev1.PersistentVolume, delayBinding bool) (*corev1.PersistentVolume, error) {
	m, err := volumematch.New(c)
	if err != nil {
		return nil, fmt.Errorf("error creating internal label selector for claim: %s/%s: %w", c.Namespace, c.Name, err)
	}
	// Group the volumes by their access modes; try the groups that cover
	// the claim's modes, fewest modes first.
	groups := map[string][]*corev1.PersistentVolume{}
	modes := map[string][]corev1.PersistentVolumeAccessMode{}
	for _, v := range volumes {
		k := modesKey(v.Spec.AccessModes)
		groups[k] = append(groups[k], v)
		modes[k] = v.Spec.AccessModes
	}
	var keys []string
	for k, m := range modes {
		if volumematch.AccessModesContain(m, c.Spec.AccessModes) {
			keys = append(keys, k)
		}
	}
	sort.Slice(keys, func(i, j int) bool {
		if li, lj := len(modes[keys[i]]), len(modes[keys[j]]); li != lj {
			return li < lj
		}
		return keys[i] < keys[j]
	})
	for _, k := range keys {
		if v := matchIn(m, groups[k], delayBinding); v != nil {
			return v, nil
		}
	}
	return nil, nil
}

func modesKey(m []corev1.PersistentVolumeAccessMode) string {
	s := make([]string, len(m))
	for i, x := range m {
		s[i] = string(x)
	}
	slices.Sort(s)
	return strings.Join(slices.Compact(s), ",")
}

func matchIn(m *volumematch.Matcher, volumes []*corev1.PersistentVolume, delayBinding bool) *corev1.PersistentVolume {
	var best *corev1.PersistentVolume
	for _, v := range volumes {
		switch m.Match(v) {
		case volumematch.Prebound:
			return v
		case volumematch.Yes:
			if delayBinding {
				continue // the scheduler binds it
			}
			if best == nil || volumeStorage(v) < volumeStorage(best) ||
				volumeStorage(v) == volumeStorage(best) && v.Name < best.Name {
				best = v
			}
		}
	}
	return best
}

// checkSatisfies is upstream's checkVolumeSatisfyClaim, for a claim that
// names its volume: the error says why the volume does not fit.
func checkSatisfies(v *corev1.PersistentVolume, c *corev1.PersistentVolumeClaim) error {
	if v.DeletionTimestamp != nil {
		return fmt.Errorf("the volume is marked for deletion %q", v.Name)
	}
	if volumeStorage(v) < claimRequest(c) {
		return errors.New("requested PV is too small")
	}
	if volumematch.VolumeClass(v) != volumematch.ClaimClass(c) {
		return errors.New("storageClassName does not match")
	}
	if volumematch.VolumeMode(c.Spec.VolumeMode) != volumematch.VolumeMode(v.Spec.VolumeMode) {
		return errors.New("incompatible volumeMode")
	}
	if !volumematch.AccessModesContain(v.Spec.AccessModes, c.Spec.AccessModes) {
		return errors.New("incompatible accessMode")
	}
	if volumeVAC(v) != claimVAC(c) {
		return errors.New("volumeAttributesClassName does not match")
	}
	return nil
}

// defaultClass is upstream's GetDefaultClass: of the classes annotated
// default, the newest (by creation time, then name); nil when none is.
func defaultClass(classes []*storagev1.StorageClass) *storagev1.StorageClass {
	var defs []*storagev1.StorageClass
	for _, c := range classes {
		if c.Annotations[annDefaultClass] == "true" || c.Annotations[annBetaDefaultClass] == "true" {
			defs = append(defs, c)
		}
	}
	if len(defs) == 0 {
		return nil
	}
	sort.Slice(defs, func(i, j int) bool {
		ti, tj := defs[i].CreationTimestamp.UnixNano(), defs[j].CreationTimestamp.UnixNano()
		if ti == tj {
			return defs[i].Name < defs[j].Name
		}
		return ti > tj
	})
	return defs[0]
}

// reclaimAction is what a Released volume's reclaim policy asks.
type reclaimAction int

const (
	reclaimRetain   reclaimAction = iota // leave it Released
	reclaimExternal                      // its external provisioner deletes it
	reclaimFail                          // mark it Failed with an event
)

// reclaim decides a Released volume's fate: the action, and for
// reclaimFail the event's reason and message (the volume's
// status.message).
func reclaim(v *corev1.PersistentVolume) (act reclaimAction, reason, message string) {
	switch v.Spec.PersistentVolumeReclaimPolicy {
	case corev1.PersistentVolumeReclaimRetain:
		return reclaimRetain, "", ""
	case corev1.PersistentVolumeReclaimRecycle:
		return reclaimFail, "VolumeFailedRecycle", "No recycler plugin found for the volume!"
	case corev1.PersistentVolumeReclaimDelete:
		// A provisioner outside kubernetes.io/ is external: upstream
		// waits for it to delete the volume.
		if p := v.Annotations[AnnDynamicallyProvisioned]; p != "" && !strings.HasPrefix(p, "kubernetes.io/") {
			return reclaimExternal, "", ""
		}
		return reclaimFail, "VolumeFailedDelete",
			fmt.Sprintf("error getting deleter volume plugin for volume %q: no deletable volume plugin matched", v.Name)
	default:
		return reclaimFail, "VolumeUnknownReclaimPolicy", "Volume has unrecognized PersistentVolumeReclaimPolicy"
	}
}
