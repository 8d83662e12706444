// Package nodeunschedulable implements NodeUnschedulable: cordoned nodes
// (spec.unschedulable) take only pods that tolerate the unschedulable taint.
package nodeunschedulable

import (
	"context"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"skiff/internal/scheduler/framework"
)

// Name is the plugin's name in configuration.
const Name = "NodeUnschedulable"

// ErrReasonUnschedulable is the user-visible reason.
const ErrReasonUnschedulable = "node(s) were unschedulable"

// NodeUnschedulable is the plugin.
type NodeUnschedulable struct{}

var _ framework.FilterPlugin = NodeUnschedulable{}

// New builds the plugin.
func New(_ runtime.Object, _ framework.Handle) (framework.Plugin, error) {
	return NodeUnschedulable{}, nil
}

// Name implements framework.Plugin.
func (NodeUnschedulable) Name() string { return Name }

var unschedulableTaint = v1.Taint{Key: v1.TaintNodeUnschedulable, Effect: v1.TaintEffectNoSchedule}

// Filter implements framework.FilterPlugin.
func (NodeUnschedulable) Filter(_ context.Context, _ *framework.CycleState, pod *v1.Pod, ni *framework.NodeInfo) *framework.Status {
	if !ni.Unschedulable() {
		return nil
	}
	for i := range pod.Spec.Tolerations {
		if framework.Tolerates(pod.Spec.Tolerations[i:i+1], &unschedulableTaint) {
			return nil
		}
	}
	return framework.NewStatus(framework.UnschedulableAndUnresolvable, ErrReasonUnschedulable)
}
