package scheduler

import (
	"context"
	"encoding/json"
	"fmt"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/cache"

	"skiff/internal/scheduler/framework"
)

func metav1ObjectMeta(ns, name string) metav1.ObjectMeta {
	return metav1.ObjectMeta{Namespace: ns, Name: name}
}

func podOf(obj any) *v1.Pod {
	switch t := obj.(type) {
	case *v1.Pod:
		return t
	case cache.DeletedFinalStateUnknown:
		p, _ := t.Obj.(*v1.Pod)
		return p
	}
	return nil
}

func nodeOf(obj any) *v1.Node {
	switch t := obj.(type) {
	case *v1.Node:
		return t
	case cache.DeletedFinalStateUnknown:
		n, _ := t.Obj.(*v1.Node)
		return n
	}
	return nil
}

func terminal(pod *v1.Pod) bool {
	return pod.Status.Phase == v1.PodSucceeded || pod.Status.Phase == v1.PodFailed
}

// pending reports whether the pod waits for this scheduler.
func (s *Scheduler) pending(pod *v1.Pod) bool {
	return pod.Spec.NodeName == "" && !terminal(pod) && pod.DeletionTimestamp == nil &&
		len(pod.Spec.SchedulingGates) == 0 && s.responsible(pod)
}

// addEventHandlers wires the informers to the cache and the queue. The
// handlers only record; the loop decides.
func (s *Scheduler) addEventHandlers() error {
	pods := s.informers.Core().V1().Pods().Informer()
	if _, err := pods.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: func(obj any) {
			pod := podOf(obj)
			switch {
			case pod == nil:
			case pod.Spec.NodeName != "" && !terminal(pod):
				s.cache.AddPod(s.withPriority(pod))
				s.assignedPodChanged(pod)
			case s.pending(pod):
				s.queue.Add(s.withPriority(pod))
			}
		},
		UpdateFunc: func(oldObj, newObj any) {
			old, pod := podOf(oldObj), podOf(newObj)
			if pod == nil {
				return
			}
			if pod.Spec.NodeName != "" {
				if old != nil && old.Spec.NodeName == "" {
					s.queue.Delete(pod)
				}
				if terminal(pod) {
					s.cache.RemovePod(pod)
					s.queue.MoveAll(nil)
					return
				}
				s.cache.UpdatePod(s.withPriority(pod))
				if old == nil || old.Spec.NodeName == "" || !equalMap(old.Labels, pod.Labels) {
					s.assignedPodChanged(pod)
				}
				return
			}
			if s.pending(pod) {
				if s.cache.IsAssumed(pod.UID) {
					return
				}
				s.queue.Update(s.withPriority(pod))
			} else {
				s.queue.Delete(pod)
			}
		},
		DeleteFunc: func(obj any) {
			pod := podOf(obj)
			if pod == nil {
				return
			}
			if pod.Spec.NodeName != "" {
				s.cache.RemovePod(pod)
				// Room freed: every parked pod may fit now.
				s.queue.MoveAll(nil)
				return
			}
			s.queue.Delete(pod)
			s.cache.RemovePod(pod)
		},
	}); err != nil {
		return fmt.Errorf("pod handler: %w", err)
	}
	nodes := s.informers.Core().V1().Nodes().Informer()
	if _, err := nodes.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: func(obj any) {
			if n := nodeOf(obj); n != nil {
				s.cache.AddNode(n)
				s.queue.MoveAll(nil)
			}
		},
		UpdateFunc: func(oldObj, newObj any) {
			old, n := nodeOf(oldObj), nodeOf(newObj)
			if n == nil {
				return
			}
			s.cache.AddNode(n)
			if old == nil || nodeSchedulingChanged(old, n) {
				s.queue.MoveAll(nil)
			}
		},
		DeleteFunc: func(obj any) {
			if n := nodeOf(obj); n != nil {
				s.cache.RemoveNode(n.Name)
			}
		},
	}); err != nil {
		return fmt.Errorf("node handler: %w", err)
	}
	if err := s.addVolumeEventHandlers(); err != nil {
		return err
	}
	// Plugins read these through listers; register them so they start.
	s.informers.Scheduling().V1().PriorityClasses().Informer()
	s.informers.Core().V1().Namespaces().Informer()
	s.informers.Policy().V1().PodDisruptionBudgets().Informer()
	return nil
}

// volumePlugins are the plugins whose rejections storage objects can lift.
var volumePlugins = []string{"VolumeBinding", "VolumeRestrictions", "VolumeZone", "NodeVolumeLimits"}

// rejectedForVolumes reports whether a volume plugin rejected the pod.
func rejectedForVolumes(q *framework.QueuedPodInfo) bool {
	for _, p := range volumePlugins {
		if q.UnschedulablePlugins[p] {
			return true
		}
	}
	return false
}

// addVolumeEventHandlers wakes pods parked by a volume plugin when a PVC,
// PV, StorageClass or CSINode changes (Node changes wake every pod). PV
// and PVC status-only heartbeats do not exist, so every update counts.
func (s *Scheduler) addVolumeEventHandlers() error {
	wake := func(any) { s.queue.MoveAll(rejectedForVolumes) }
	h := cache.ResourceEventHandlerFuncs{
		AddFunc:    wake,
		UpdateFunc: func(_, obj any) { wake(obj) },
		DeleteFunc: wake,
	}
	for name, inf := range map[string]cache.SharedIndexInformer{
		"persistentvolumeclaim": s.informers.Core().V1().PersistentVolumeClaims().Informer(),
		"persistentvolume":      s.informers.Core().V1().PersistentVolumes().Informer(),
		"storageclass":          s.informers.Storage().V1().StorageClasses().Informer(),
		"csinode":               s.informers.Storage().V1().CSINodes().Informer(),
	} {
		if _, err := inf.AddEventHandler(h); err != nil {
			return fmt.Errorf("%s handler: %w", name, err)
		}
	}
	return nil
}

// assignedPodChanged wakes parked pods that a newly placed (or relabelled)
// pod could help: those rejected by pod affinity or topology spread.
func (s *Scheduler) assignedPodChanged(*v1.Pod) {
	s.queue.MoveAll(func(q *framework.QueuedPodInfo) bool {
		return q.UnschedulablePlugins["InterPodAffinity"] || q.UnschedulablePlugins["PodTopologySpread"]
	})
}

func equalMap(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || v != w {
			return false
		}
	}
	return true
}

// nodeSchedulingChanged ignores heartbeats: only what a filter reads counts.
func nodeSchedulingChanged(old, n *v1.Node) bool {
	if old.Spec.Unschedulable != n.Spec.Unschedulable || !equalMap(old.Labels, n.Labels) {
		return true
	}
	if len(old.Spec.Taints) != len(n.Spec.Taints) {
		return true
	}
	for i := range n.Spec.Taints {
		if old.Spec.Taints[i].Key != n.Spec.Taints[i].Key || old.Spec.Taints[i].Value != n.Spec.Taints[i].Value || old.Spec.Taints[i].Effect != n.Spec.Taints[i].Effect {
			return true
		}
	}
	if len(old.Status.Allocatable) != len(n.Status.Allocatable) {
		return true
	}
	for k, v := range n.Status.Allocatable {
		if ov, ok := old.Status.Allocatable[k]; !ok || ov.Cmp(v) != 0 {
			return true
		}
	}
	return false
}

// updatePodScheduled sets PodScheduled=False with the failure message (and
// the nominated node), skipping the write when nothing would change.
func (s *Scheduler) updatePodScheduled(ctx context.Context, pod *v1.Pod, reason, msg, nominated string) error {
	for _, c := range pod.Status.Conditions {
		if c.Type == v1.PodScheduled && c.Status == v1.ConditionFalse && c.Reason == reason && c.Message == msg &&
			(nominated == "" || pod.Status.NominatedNodeName == nominated) {
			return nil
		}
	}
	status := map[string]any{
		"conditions": []map[string]any{{
			"type":               string(v1.PodScheduled),
			"status":             string(v1.ConditionFalse),
			"reason":             reason,
			"message":            msg,
			"lastProbeTime":      nil,
			"lastTransitionTime": metav1.Now().UTC().Format("2006-01-02T15:04:05Z"),
		}},
	}
	if nominated != "" {
		status["nominatedNodeName"] = nominated
	}
	patch, err := json.Marshal(map[string]any{"status": status})
	if err != nil {
		return err
	}
	_, err = s.client.CoreV1().Pods(pod.Namespace).Patch(ctx, pod.Name, types.StrategicMergePatchType, patch, metav1.PatchOptions{}, "status")
	if err != nil {
		return fmt.Errorf("patch pod %s status: %w", key(pod), err)
	}
	return nil
}
