package csi

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"

	storagev1 "k8s.io/api/storage/v1"
)

// AnnotationNodeID maps the node's CSI drivers to their node IDs, as JSON.
const AnnotationNodeID = "csi.volume.kubernetes.io/nodeid"

// driverInfo is what a driver told at registration.
type driverInfo struct {
	name     string
	nodeID   string
	maxVols  int64
	topology map[string]string
}

// csiNodeDriver is the driver's entry in the CSINode.
func (d driverInfo) csiNodeDriver() storagev1.CSINodeDriver {
	e := storagev1.CSINodeDriver{Name: d.name, NodeID: d.nodeID}
	if len(d.topology) > 0 {
		e.TopologyKeys = slices.Sorted(maps.Keys(d.topology))
	}
	if d.maxVols > 0 {
		n := int32(d.maxVols)
		e.Allocatable = &storagev1.VolumeNodeResources{Count: &n}
	}
	return e
}

// withDriver returns drivers with d's entry added or replaced, and
// whether that changed anything.
func withDriver(drivers []storagev1.CSINodeDriver, d storagev1.CSINodeDriver) ([]storagev1.CSINodeDriver, bool) {
	out := slices.Clone(drivers)
	i := slices.IndexFunc(out, func(e storagev1.CSINodeDriver) bool { return e.Name == d.Name })
	if i < 0 {
		return append(out, d), true
	}
	if sameDriver(out[i], d) {
		return drivers, false
	}
	out[i] = d
	return out, true
}

func sameDriver(a, b storagev1.CSINodeDriver) bool {
	count := func(r *storagev1.VolumeNodeResources) int32 {
		if r == nil || r.Count == nil {
			return -1
		}
		return *r.Count
	}
	return a.Name == b.Name && a.NodeID == b.NodeID && slices.Equal(a.TopologyKeys, b.TopologyKeys) && count(a.Allocatable) == count(b.Allocatable)
}

// withoutDriver returns drivers without name's entry, and whether it was there.
func withoutDriver(drivers []storagev1.CSINodeDriver, name string) ([]storagev1.CSINodeDriver, bool) {
	out := slices.DeleteFunc(slices.Clone(drivers), func(e storagev1.CSINodeDriver) bool { return e.Name == name })
	return out, len(out) != len(drivers)
}

// nodeIDAnnotation returns the annotation's value with driver mapped to
// nodeID (removed when nodeID is empty); "" when no driver is left.
func nodeIDAnnotation(current, driver, nodeID string) (string, error) {
	ids := map[string]string{}
	if current != "" {
		if err := json.Unmarshal([]byte(current), &ids); err != nil {
			return "", fmt.Errorf("parse node annotation %s: %w", AnnotationNodeID, err)
		}
	}
	if nodeID == "" {
		delete(ids, driver)
	} else {
		ids[driver] = nodeID
	}
	if len(ids) == 0 {
		return "", nil
	}
	b, err := json.Marshal(ids)
	return string(b), err
}

// topologyLabels returns the labels to add to the node for the driver's
// topology; a key the node has with another value is a collision, as
// upstream refuses it.
func topologyLabels(node map[string]string, topology map[string]string) (map[string]string, error) {
	add := map[string]string{}
	for k, v := range topology {
		cur, ok := node[k]
		switch {
		case !ok:
			add[k] = v
		case cur != v:
			return nil, fmt.Errorf("detected topology value collision: driver reported %q:%q but existing label is %q:%q", k, v, k, cur)
		}
	}
	return add, nil
}
