// Package volumezone implements VolumeZone: a pod whose bound PVs carry
// zone or region labels goes only to nodes in those zones and regions.
// (PV node affinity is VolumeBinding's check.)
package volumezone

import (
	"context"
	"fmt"
	"strings"

	v1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"
	listersv1 "k8s.io/client-go/listers/core/v1"
	storagelisters "k8s.io/client-go/listers/storage/v1"

	"skiff/internal/scheduler/framework"
)

// Name is the plugin's name in configuration.
const Name = "VolumeZone"

// ErrReasonConflict is the user-visible reason.
const ErrReasonConflict = "node(s) had no available volume zone"

const stateKey framework.StateKey = "PreFilter" + Name

var topologyLabels = []string{
	v1.LabelFailureDomainBetaZone, v1.LabelFailureDomainBetaRegion,
	v1.LabelTopologyZone, v1.LabelTopologyRegion,
}

// gaLabel maps a beta topology label to its GA name.
func gaLabel(key string) string {
	switch key {
	case v1.LabelFailureDomainBetaZone:
		return v1.LabelTopologyZone
	case v1.LabelFailureDomainBetaRegion:
		return v1.LabelTopologyRegion
	}
	return key
}

// VolumeZone is the plugin.
type VolumeZone struct {
	// skip is the prebuilt PreFilter Skip: pods without volumes, the
	// usual case, cost no allocation.
	skip    *framework.Status
	pvs     listersv1.PersistentVolumeLister
	pvcs    listersv1.PersistentVolumeClaimLister
	classes storagelisters.StorageClassLister
}

var (
	_ framework.PreFilterPlugin = (*VolumeZone)(nil)
	_ framework.FilterPlugin    = (*VolumeZone)(nil)
)

// New builds the plugin; it reads PVs, PVCs and StorageClasses.
func New(_ runtime.Object, h framework.Handle) (framework.Plugin, error) {
	f := h.SharedInformerFactory()
	return &VolumeZone{
		skip:    framework.NewStatus(framework.Skip).WithPlugin(Name),
		pvs:     f.Core().V1().PersistentVolumes().Lister(),
		pvcs:    f.Core().V1().PersistentVolumeClaims().Lister(),
		classes: f.Storage().V1().StorageClasses().Lister(),
	}, nil
}

// Name implements framework.Plugin.
func (*VolumeZone) Name() string { return Name }

// topology is one PV's label constraint: the node's key must be one of values.
type topology struct {
	key    string
	values []string
}

type state struct{ topologies []topology }

func (s *state) Clone() framework.StateData { return s }

// PreFilter implements framework.PreFilterPlugin: it collects the bound
// PVs' zone and region labels; pods with none are skipped.
func (pl *VolumeZone) PreFilter(_ context.Context, cs *framework.CycleState, pod *v1.Pod, _ []*framework.NodeInfo) (*framework.PreFilterResult, *framework.Status) {
	var tops []topology
	for i := range pod.Spec.Volumes {
		c := pod.Spec.Volumes[i].PersistentVolumeClaim
		if c == nil {
			continue
		}
		if c.ClaimName == "" {
			return nil, framework.NewStatus(framework.UnschedulableAndUnresolvable, "PersistentVolumeClaim had no name")
		}
		pvc, err := pl.pvcs.PersistentVolumeClaims(pod.Namespace).Get(c.ClaimName)
		if err != nil {
			return nil, notFound(err)
		}
		if pvc.Spec.VolumeName == "" {
			class := ""
			if pvc.Spec.StorageClassName != nil {
				class = *pvc.Spec.StorageClassName
			}
			if c, ok := pvc.Annotations[v1.BetaStorageClassAnnotation]; ok {
				class = c
			}
			if class == "" {
				return nil, framework.NewStatus(framework.UnschedulableAndUnresolvable, "PersistentVolumeClaim had no pv name and storageClass name")
			}
			sc, err := pl.classes.Get(class)
			if err != nil {
				return nil, notFound(err)
			}
			if sc.VolumeBindingMode == nil {
				return nil, framework.NewStatus(framework.UnschedulableAndUnresolvable, fmt.Sprintf("VolumeBindingMode not set for StorageClass %q", class))
			}
			if *sc.VolumeBindingMode == storagev1.VolumeBindingWaitForFirstConsumer {
				continue
			}
			return nil, framework.NewStatus(framework.UnschedulableAndUnresolvable, "PersistentVolume had no name")
		}
		pv, err := pl.pvs.Get(pvc.Spec.VolumeName)
		if err != nil {
			return nil, notFound(err)
		}
		for _, key := range topologyLabels {
			if value, ok := pv.Labels[key]; ok {
				tops = append(tops, topology{key: key, values: zones(value)})
			}
		}
	}
	if len(tops) == 0 {
		return nil, pl.skip
	}
	cs.Write(stateKey, &state{topologies: tops})
	return nil, nil
}

// zones splits a multi-zone label value ("a__b", as upstream writes them).
func zones(value string) []string {
	var out []string
	for _, z := range strings.Split(value, "__") {
		if z = strings.TrimSpace(z); z != "" {
			out = append(out, z)
		}
	}
	return out
}

func notFound(err error) *framework.Status {
	if apierrors.IsNotFound(err) {
		return framework.NewStatus(framework.UnschedulableAndUnresolvable, err.Error())
	}
	return framework.AsStatus(err)
}

// PreFilterExtensions implements framework.PreFilterPlugin.
func (*VolumeZone) PreFilterExtensions() framework.PreFilterExtensions { return nil }

// Filter implements framework.FilterPlugin. Nodes without any topology
// label (single-zone clusters) fit.
func (pl *VolumeZone) Filter(_ context.Context, cs *framework.CycleState, _ *v1.Pod, ni *framework.NodeInfo) *framework.Status {
	d, err := cs.Read(stateKey)
	if err != nil {
		return nil
	}
	labels := ni.Node().Labels
	constrained := false
	for _, key := range topologyLabels {
		if _, ok := labels[key]; ok {
			constrained = true
			break
		}
	}
	if !constrained {
		return nil
	}
	for _, t := range d.(*state).topologies {
		v, ok := labels[t.key]
		if !ok {
			v, ok = labels[gaLabel(t.key)]
		}
		if !ok || !contains(t.values, v) {
			return framework.NewStatus(framework.UnschedulableAndUnresolvable, ErrReasonConflict)
		}
	}
	return nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
