package scheduler

import (
	"skiff/internal/scheduler/framework"
	"skiff/internal/scheduler/plugins/balancedallocation"
	"skiff/internal/scheduler/plugins/defaultbinder"
	"skiff/internal/scheduler/plugins/defaultpreemption"
	"skiff/internal/scheduler/plugins/imagelocality"
	"skiff/internal/scheduler/plugins/interpodaffinity"
	"skiff/internal/scheduler/plugins/nodeaffinity"
	"skiff/internal/scheduler/plugins/nodename"
	"skiff/internal/scheduler/plugins/nodeports"
	"skiff/internal/scheduler/plugins/noderesourcesfit"
	"skiff/internal/scheduler/plugins/nodeunschedulable"
	"skiff/internal/scheduler/plugins/nodevolumelimits"
	"skiff/internal/scheduler/plugins/podtopologyspread"
	"skiff/internal/scheduler/plugins/queuesort"
	"skiff/internal/scheduler/plugins/tainttoleration"
	"skiff/internal/scheduler/plugins/volumebinding"
	"skiff/internal/scheduler/plugins/volumerestrictions"
	"skiff/internal/scheduler/plugins/volumezone"
)

// NewInTreeRegistry returns the built-in plugins by name.
func NewInTreeRegistry() framework.Registry {
	return framework.Registry{
		queuesort.Name:          queuesort.New,
		nodeunschedulable.Name:  nodeunschedulable.New,
		nodename.Name:           nodename.New,
		tainttoleration.Name:    tainttoleration.New,
		nodeaffinity.Name:       nodeaffinity.New,
		nodeports.Name:          nodeports.New,
		noderesourcesfit.Name:   noderesourcesfit.New,
		balancedallocation.Name: balancedallocation.New,
		interpodaffinity.Name:   interpodaffinity.New,
		podtopologyspread.Name:  podtopologyspread.New,
		imagelocality.Name:      imagelocality.New,
		defaultpreemption.Name:  defaultpreemption.New,
		defaultbinder.Name:      defaultbinder.New,
		volumerestrictions.Name: volumerestrictions.New,
		nodevolumelimits.Name:   nodevolumelimits.New,
		volumebinding.Name:      volumebinding.New,
		volumezone.Name:         volumezone.New,
	}
}

// DefaultMultiPoint is upstream's default plugin list with its score
// weights (DRA and the in-tree cloud volume limits are not implemented).
func DefaultMultiPoint() []framework.PluginRef {
	return []framework.PluginRef{
		{Name: queuesort.Name},
		{Name: nodeunschedulable.Name},
		{Name: nodename.Name},
		{Name: tainttoleration.Name, Weight: 3},
		{Name: nodeaffinity.Name, Weight: 2},
		{Name: nodeports.Name},
		{Name: noderesourcesfit.Name, Weight: 1},
		{Name: volumerestrictions.Name},
		{Name: nodevolumelimits.Name},
		{Name: volumebinding.Name},
		{Name: volumezone.Name},
		{Name: podtopologyspread.Name, Weight: 2},
		{Name: interpodaffinity.Name, Weight: 2},
		{Name: defaultpreemption.Name},
		{Name: balancedallocation.Name, Weight: 1},
		{Name: imagelocality.Name, Weight: 1},
		{Name: defaultbinder.Name},
	}
}
