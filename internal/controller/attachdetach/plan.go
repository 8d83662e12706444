package attachdetach

import (
	"crypto/sha256"
	"fmt"
	"maps"
	"slices"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
)

// AttachmentName is the name upstream's CSI attacher gives the
// VolumeAttachment of volume handle of driver on node.
func AttachmentName(handle, driver, node string) string {
	return fmt.Sprintf("csi-%x", sha256.Sum256([]byte(handle+driver+node)))
}

// UniqueVolumeName is the name a CSI volume has in a Node's
// status.volumesAttached and volumesInUse, as upstream's.
func UniqueVolumeName(driver, handle string) corev1.UniqueVolumeName {
	return corev1.UniqueVolumeName("kubernetes.io/csi/" + driver + "^" + handle)
}

// state is what one node's sync decides from.
type state struct {
	node string
	// pods are the pods scheduled to the node.
	pods []*corev1.Pod
	// claim, volume and driver look objects up; nil when absent.
	claim  func(ns, name string) *corev1.PersistentVolumeClaim
	volume func(name string) *corev1.PersistentVolume
	driver func(name string) *storagev1.CSIDriver
	// attachments are the node's VolumeAttachments.
	attachments []*storagev1.VolumeAttachment
	// inUse is the node's status.volumesInUse.
	inUse []corev1.UniqueVolumeName
}

// plan is what a sync writes.
type plan struct {
	create []*storagev1.VolumeAttachment
	delete []string
	// waiting counts attachments kept only because the node still uses them.
	waiting int
	// attached is the node's status.volumesAttached, sorted by name.
	attached []corev1.AttachedVolume
}

// attachRequired reports whether volumes of driver need a VolumeAttachment:
// true unless its CSIDriver says otherwise, as upstream.
func attachRequired(d *storagev1.CSIDriver) bool {
	return d == nil || d.Spec.AttachRequired == nil || *d.Spec.AttachRequired
}

// desired returns the VolumeAttachments the node's pods need, by name.
func desired(s state) map[string]*storagev1.VolumeAttachment {
	out := map[string]*storagev1.VolumeAttachment{}
	for _, p := range s.pods {
		for _, v := range p.Spec.Volumes {
			if v.PersistentVolumeClaim == nil {
				continue
			}
			pvc := s.claim(p.Namespace, v.PersistentVolumeClaim.ClaimName)
			if pvc == nil || pvc.Spec.VolumeName == "" {
				continue
			}
			pv := s.volume(pvc.Spec.VolumeName)
			if pv == nil || pv.Spec.CSI == nil || (pv.Spec.ClaimRef != nil && pv.Spec.ClaimRef.UID != "" && pv.Spec.ClaimRef.UID != pvc.UID) {
				continue
			}
			csi := pv.Spec.CSI
			if !attachRequired(s.driver(csi.Driver)) {
				continue
			}
			name := AttachmentName(csi.VolumeHandle, csi.Driver, s.node)
			pvName := pv.Name
			va := &storagev1.VolumeAttachment{}
			va.Name = name
			va.Spec = storagev1.VolumeAttachmentSpec{
				Attacher: csi.Driver,
				NodeName: s.node,
				Source:   storagev1.VolumeAttachmentSource{PersistentVolumeName: &pvName},
			}
			out[name] = va
		}
	}
	return out
}

// decide is the pure decision of one node's sync.
func decide(s state) plan {
	want := desired(s)
	var p plan
	have := map[string]bool{}
	for _, va := range s.attachments {
		have[va.Name] = true
		if va.DeletionTimestamp != nil || !s.managed(va) {
			continue
		}
		if _, ok := want[va.Name]; ok {
			if va.Status.Attached {
				p.attached = append(p.attached, corev1.AttachedVolume{Name: s.uniqueName(va)})
			}
			continue
		}
		if slices.Contains(s.inUse, s.uniqueName(va)) {
			// The node has not unmounted it yet: detaching now could
			// lose data, so wait, as upstream does.
			p.waiting++
			if va.Status.Attached {
				p.attached = append(p.attached, corev1.AttachedVolume{Name: s.uniqueName(va)})
			}
			continue
		}
		p.delete = append(p.delete, va.Name)
	}
	for _, name := range slices.Sorted(maps.Keys(want)) {
		if !have[name] {
			p.create = append(p.create, want[name])
		}
	}
	slices.SortFunc(p.attached, func(a, b corev1.AttachedVolume) int {
		if a.Name < b.Name {
			return -1
		}
		if a.Name > b.Name {
			return 1
		}
		return 0
	})
	slices.Sort(p.delete)
	return p
}

// managed reports whether the controller attached va: its source is an
// existing CSI PV of its attacher, and it has the name the controller
// gives that volume on the node. Others (made by hand, or for a volume
// that is gone) are left alone, as upstream's controller knows only the
// attachments of volumes it can look up.
func (s state) managed(va *storagev1.VolumeAttachment) bool {
	n := va.Spec.Source.PersistentVolumeName
	if n == nil {
		return false
	}
	pv := s.volume(*n)
	if pv == nil || pv.Spec.CSI == nil || pv.Spec.CSI.Driver != va.Spec.Attacher {
		return false
	}
	return va.Name == AttachmentName(pv.Spec.CSI.VolumeHandle, pv.Spec.CSI.Driver, s.node)
}

// uniqueName is the volume name of a VolumeAttachment as the node reports
// it; the handle comes from the PV it names.
func (s state) uniqueName(va *storagev1.VolumeAttachment) corev1.UniqueVolumeName {
	handle := ""
	if n := va.Spec.Source.PersistentVolumeName; n != nil {
		if pv := s.volume(*n); pv != nil && pv.Spec.CSI != nil {
			handle = pv.Spec.CSI.VolumeHandle
		}
	}
	return UniqueVolumeName(va.Spec.Attacher, handle)
}
