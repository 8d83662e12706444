// Package queuesort implements PrioritySort: higher priority first, then
// the pod that entered the queue earlier.
package queuesort

import (
	"k8s.io/apimachinery/pkg/runtime"
	corev1helpers "k8s.io/component-helpers/scheduling/corev1"

	"skiff/internal/scheduler/framework"
)

// Name is the plugin's name in configuration.
const Name = "PrioritySort"

// PrioritySort orders the active queue.
type PrioritySort struct{}

var _ framework.QueueSortPlugin = PrioritySort{}

// New builds the plugin.
func New(_ runtime.Object, _ framework.Handle) (framework.Plugin, error) { return PrioritySort{}, nil }

// Name implements framework.Plugin.
func (PrioritySort) Name() string { return Name }

// Less implements framework.QueueSortPlugin.
func (PrioritySort) Less(a, b *framework.QueuedPodInfo) bool {
	pa, pb := corev1helpers.PodPriority(a.Pod), corev1helpers.PodPriority(b.Pod)
	return pa > pb || (pa == pb && a.Timestamp < b.Timestamp)
}
