// Package volumerestrictions implements VolumeRestrictions: a pod may not
// share a ReadWriteOncePod claim with any other pod, nor mount an in-tree
// disk (GCE PD, AWS EBS, Ceph RBD, iSCSI) that a pod on the node mounts
// read-write.
package volumerestrictions

import (
	"context"
	"fmt"

	v1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"
	listersv1 "k8s.io/client-go/listers/core/v1"

	"skiff/internal/scheduler/framework"
)

// Name is the plugin's name in configuration.
const Name = "VolumeRestrictions"

// User-visible reasons, as upstream words them.
const (
	ErrReasonDiskConflict             = "node(s) had no available disk"
	ErrReasonReadWriteOncePodConflict = "node has pod using PersistentVolumeClaim with the same name and ReadWriteOncePod access mode"
)

const stateKey framework.StateKey = "PreFilter" + Name

// VolumeRestrictions is the plugin.
type VolumeRestrictions struct {
	// skip is the prebuilt PreFilter Skip: pods without volumes, the
	// usual case, cost no allocation.
	skip *framework.Status
	pvcs listersv1.PersistentVolumeClaimLister
	h    framework.Handle
}

var (
	_ framework.PreFilterPlugin     = (*VolumeRestrictions)(nil)
	_ framework.FilterPlugin        = (*VolumeRestrictions)(nil)
	_ framework.PreFilterExtensions = (*VolumeRestrictions)(nil)
)

// New builds the plugin; it reads PVCs.
func New(_ runtime.Object, h framework.Handle) (framework.Plugin, error) {
	return &VolumeRestrictions{skip: framework.NewStatus(framework.Skip).WithPlugin(Name), pvcs: h.SharedInformerFactory().Core().V1().PersistentVolumeClaims().Lister(), h: h}, nil
}

// Name implements framework.Plugin.
func (*VolumeRestrictions) Name() string { return Name }

// state holds the pod's ReadWriteOncePod claims (namespace/name) and how
// many other pods in the cluster use them.
type state struct {
	rwop      map[string]bool
	conflicts int
}

func (s *state) Clone() framework.StateData {
	c := *s
	return &c
}

func inTreeDisk(v *v1.Volume) bool {
	return v.GCEPersistentDisk != nil || v.AWSElasticBlockStore != nil || v.RBD != nil || v.ISCSI != nil
}

// PreFilter implements framework.PreFilterPlugin: pods without claims or
// in-tree disks are skipped.
func (pl *VolumeRestrictions) PreFilter(_ context.Context, cs *framework.CycleState, pod *v1.Pod, nodes []*framework.NodeInfo) (*framework.PreFilterResult, *framework.Status) {
	needed := false
	var rwop map[string]bool
	for i := range pod.Spec.Volumes {
		v := &pod.Spec.Volumes[i]
		if inTreeDisk(v) {
			needed = true
			continue
		}
		if v.PersistentVolumeClaim == nil {
			continue
		}
		pvc, err := pl.pvcs.PersistentVolumeClaims(pod.Namespace).Get(v.PersistentVolumeClaim.ClaimName)
		if apierrors.IsNotFound(err) {
			return nil, framework.NewStatus(framework.UnschedulableAndUnresolvable,
				fmt.Sprintf("persistentvolumeclaim %q not found", v.PersistentVolumeClaim.ClaimName))
		}
		if err != nil {
			return nil, framework.AsStatus(err)
		}
		for _, m := range pvc.Spec.AccessModes {
			if m == v1.ReadWriteOncePod {
				if rwop == nil {
					rwop = map[string]bool{}
				}
				rwop[pvc.Name] = true
			}
		}
	}
	if !needed && rwop == nil {
		return nil, pl.skip
	}
	s := &state{rwop: rwop}
	if rwop != nil {
		for _, ni := range nodes {
			for _, pi := range ni.Pods {
				if pi.Pod.UID != pod.UID && s.uses(pod.Namespace, pi.Pod) {
					s.conflicts++
				}
			}
		}
	}
	cs.Write(stateKey, s)
	return nil, nil
}

// uses reports whether p mounts one of the RWOP claims.
func (s *state) uses(ns string, p *v1.Pod) bool {
	if p.Namespace != ns {
		return false
	}
	for i := range p.Spec.Volumes {
		if c := p.Spec.Volumes[i].PersistentVolumeClaim; c != nil && s.rwop[c.ClaimName] {
			return true
		}
	}
	return false
}

// PreFilterExtensions implements framework.PreFilterPlugin.
func (pl *VolumeRestrictions) PreFilterExtensions() framework.PreFilterExtensions { return pl }

// AddPod implements framework.PreFilterExtensions.
func (pl *VolumeRestrictions) AddPod(_ context.Context, cs *framework.CycleState, pod *v1.Pod, add *framework.PodInfo, _ *framework.NodeInfo) *framework.Status {
	if s := readState(cs); s != nil && s.rwop != nil && s.uses(pod.Namespace, add.Pod) {
		s.conflicts++
	}
	return nil
}

// RemovePod implements framework.PreFilterExtensions.
func (pl *VolumeRestrictions) RemovePod(_ context.Context, cs *framework.CycleState, pod *v1.Pod, remove *framework.PodInfo, _ *framework.NodeInfo) *framework.Status {
	if s := readState(cs); s != nil && s.rwop != nil && s.uses(pod.Namespace, remove.Pod) {
		s.conflicts--
	}
	return nil
}

func readState(cs *framework.CycleState) *state {
	d, err := cs.Read(stateKey)
	if err != nil {
		return nil
	}
	return d.(*state)
}

// Filter implements framework.FilterPlugin.
func (pl *VolumeRestrictions) Filter(_ context.Context, cs *framework.CycleState, pod *v1.Pod, ni *framework.NodeInfo) *framework.Status {
	for i := range pod.Spec.Volumes {
		v := &pod.Spec.Volumes[i]
		if !inTreeDisk(v) {
			continue
		}
		for _, pi := range ni.Pods {
			if diskConflict(v, pi.Pod) {
				return framework.NewStatus(framework.Unschedulable, ErrReasonDiskConflict)
			}
		}
	}
	if s := readState(cs); s != nil && s.conflicts > 0 {
		return framework.NewStatus(framework.Unschedulable, ErrReasonReadWriteOncePodConflict)
	}
	return nil
}

// diskConflict reports whether v and a volume of p are the same in-tree
// disk, mounted read-write by one of them (EBS: at all).
func diskConflict(v *v1.Volume, p *v1.Pod) bool {
	for i := range p.Spec.Volumes {
		e := &p.Spec.Volumes[i]
		switch {
		case v.GCEPersistentDisk != nil && e.GCEPersistentDisk != nil:
			if v.GCEPersistentDisk.PDName == e.GCEPersistentDisk.PDName && !(v.GCEPersistentDisk.ReadOnly && e.GCEPersistentDisk.ReadOnly) {
				return true
			}
		case v.AWSElasticBlockStore != nil && e.AWSElasticBlockStore != nil:
			if v.AWSElasticBlockStore.VolumeID == e.AWSElasticBlockStore.VolumeID {
				return true
			}
		case v.ISCSI != nil && e.ISCSI != nil:
			if v.ISCSI.IQN == e.ISCSI.IQN && !(v.ISCSI.ReadOnly && e.ISCSI.ReadOnly) {
				return true
			}
		case v.RBD != nil && e.RBD != nil:
			if overlap(v.RBD.CephMonitors, e.RBD.CephMonitors) && v.RBD.RBDPool == e.RBD.RBDPool &&
				v.RBD.RBDImage == e.RBD.RBDImage && !(v.RBD.ReadOnly && e.RBD.ReadOnly) {
				return true
			}
		}
	}
	return false
}

func overlap(a, b []string) bool {
	for _, x := range a {
		for _, y := range b {
			if x == y {
				return true
			}
		}
	}
	return false
}
