// Package nodevolumelimits implements NodeVolumeLimits for CSI: the CSI
// volumes of a node's pods, counted per driver by unique volume handle,
// may not exceed the driver's allocatable count in the node's CSINode.
// Nodes without a CSINode, or drivers without a count, have no limit.
package nodevolumelimits

import (
	"context"
	"fmt"

	v1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"
	listersv1 "k8s.io/client-go/listers/core/v1"
	storagelisters "k8s.io/client-go/listers/storage/v1"
	"k8s.io/client-go/tools/cache"

	"skiff/internal/scheduler/framework"
)

// Name is the plugin's name in configuration.
const Name = "NodeVolumeLimits"

// ErrReasonMaxVolumeCountExceeded is the user-visible reason.
const ErrReasonMaxVolumeCountExceeded = "node(s) exceed max volume count"

// NodeVolumeLimits is the plugin.
type NodeVolumeLimits struct {
	// skip is the prebuilt PreFilter Skip: pods without volumes, the
	// usual case, cost no allocation.
	skip    *framework.Status
	pvs     listersv1.PersistentVolumeLister
	pvcs    listersv1.PersistentVolumeClaimLister
	classes storagelisters.StorageClassLister
	// csiNodes is the CSINode informer's store: Filter looks nodes up
	// without the lister's NotFound error (most nodes of a cluster without
	// CSI have no CSINode).
	csiNodes cache.Indexer
}

var (
	_ framework.PreFilterPlugin = (*NodeVolumeLimits)(nil)
	_ framework.FilterPlugin    = (*NodeVolumeLimits)(nil)
)

// New builds the plugin; it reads PVs, PVCs, StorageClasses, CSINodes and
// (registered, as upstream, for drivers' attach information) CSIDrivers.
func New(_ runtime.Object, h framework.Handle) (framework.Plugin, error) {
	f := h.SharedInformerFactory()
	f.Storage().V1().CSIDrivers().Informer()
	return &NodeVolumeLimits{
		skip:     framework.NewStatus(framework.Skip).WithPlugin(Name),
		pvs:      f.Core().V1().PersistentVolumes().Lister(),
		pvcs:     f.Core().V1().PersistentVolumeClaims().Lister(),
		classes:  f.Storage().V1().StorageClasses().Lister(),
		csiNodes: f.Storage().V1().CSINodes().Informer().GetIndexer(),
	}, nil
}

// Name implements framework.Plugin.
func (*NodeVolumeLimits) Name() string { return Name }

const stateKey framework.StateKey = "PreFilter" + Name

// state is the incoming pod's CSI volumes, handle -> driver.
type state struct{ vols map[string]string }

func (s *state) Clone() framework.StateData { return s }

// PreFilter implements framework.PreFilterPlugin: it finds the pod's CSI
// volumes once; pods without any are skipped.
func (pl *NodeVolumeLimits) PreFilter(_ context.Context, cs *framework.CycleState, pod *v1.Pod, _ []*framework.NodeInfo) (*framework.PreFilterResult, *framework.Status) {
	has := false
	for i := range pod.Spec.Volumes {
		if v := &pod.Spec.Volumes[i]; v.PersistentVolumeClaim != nil || v.Ephemeral != nil || v.CSI != nil {
			has = true
			break
		}
	}
	if !has {
		return nil, pl.skip
	}
	vols := map[string]string{}
	if err := pl.csiVolumes(pod, true, vols); err != nil {
		return nil, framework.AsStatus(err)
	}
	if len(vols) == 0 {
		return nil, pl.skip
	}
	cs.Write(stateKey, &state{vols: vols})
	return nil, nil
}

// PreFilterExtensions implements framework.PreFilterPlugin.
func (*NodeVolumeLimits) PreFilterExtensions() framework.PreFilterExtensions { return nil }

// Filter implements framework.FilterPlugin.
func (pl *NodeVolumeLimits) Filter(_ context.Context, cs *framework.CycleState, pod *v1.Pod, ni *framework.NodeInfo) *framework.Status {
	d, err := cs.Read(stateKey)
	if err != nil {
		return nil
	}
	obj, ok, _ := pl.csiNodes.GetByKey(ni.Name())
	if !ok {
		return nil
	}
	csiNode := obj.(*storagev1.CSINode)
	var limits map[string]int32
	for _, d := range csiNode.Spec.Drivers {
		if d.Allocatable != nil && d.Allocatable.Count != nil {
			if limits == nil {
				limits = map[string]int32{}
			}
			limits[d.Name] = *d.Allocatable.Count
		}
	}
	if limits == nil {
		return nil
	}
	attached := map[string]string{}
	for _, pi := range ni.Pods {
		if pi.Pod.UID == pod.UID {
			continue
		}
		_ = pl.csiVolumes(pi.Pod, false, attached)
	}
	return exceeds(d.(*state).vols, attached, limits)
}

// exceeds is the decision: volumes (handle -> driver) the pod adds beyond
// those already on the node must keep each limited driver within its count.
func exceeds(newVols, attached map[string]string, limits map[string]int32) *framework.Status {
	perDriver := map[string]int32{}
	for handle, driver := range newVols {
		if _, ok := attached[handle]; !ok {
			perDriver[driver]++
		}
	}
	if len(perDriver) == 0 {
		return nil
	}
	used := map[string]int32{}
	for _, driver := range attached {
		used[driver]++
	}
	for driver, n := range perDriver {
		if limit, ok := limits[driver]; ok && used[driver]+n > limit {
			return framework.NewStatus(framework.Unschedulable, ErrReasonMaxVolumeCountExceeded)
		}
	}
	return nil
}

// csiVolumes adds the pod's CSI volumes to out, keyed by a unique handle
// ("driver/volumeHandle" for PVs; claims not yet bound count under their
// class's provisioner). Lookup failures fail only for the incoming pod.
func (pl *NodeVolumeLimits) csiVolumes(pod *v1.Pod, incoming bool, out map[string]string) error {
	for i := range pod.Spec.Volumes {
		v := &pod.Spec.Volumes[i]
		var claim string
		switch {
		case v.CSI != nil:
			out[v.CSI.Driver+"/"+string(pod.UID)+"/"+v.Name] = v.CSI.Driver
			continue
		case v.PersistentVolumeClaim != nil:
			claim = v.PersistentVolumeClaim.ClaimName
		case v.Ephemeral != nil:
			claim = pod.Name + "-" + v.Name
		default:
			continue
		}
		pvc, err := pl.pvcs.PersistentVolumeClaims(pod.Namespace).Get(claim)
		if err != nil {
			if incoming && !apierrors.IsNotFound(err) {
				return fmt.Errorf("looking up PVC %s/%s: %w", pod.Namespace, claim, err)
			}
			continue
		}
		if pvc.Spec.VolumeName != "" {
			pv, err := pl.pvs.Get(pvc.Spec.VolumeName)
			if err == nil {
				if pv.Spec.CSI != nil {
					out[pv.Spec.CSI.Driver+"/"+pv.Spec.CSI.VolumeHandle] = pv.Spec.CSI.Driver
				}
				continue
			}
		}
		class := ""
		if pvc.Spec.StorageClassName != nil {
			class = *pvc.Spec.StorageClassName
		}
		if class == "" {
			continue
		}
		sc, err := pl.classes.Get(class)
		if err != nil {
			continue
		}
		out[sc.Provisioner+"/"+pvc.Namespace+"-"+pvc.Name] = sc.Provisioner
	}
	return nil
}
