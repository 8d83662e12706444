package statefulset

import (
	"sort"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"

	"skiff/internal/controller/reconcile"
)

// action is what one step of a sync does to one ordinal.
type action int

const (
	// recreate deletes a terminated pod, so that it comes back under its
	// name.
	recreate action = iota
	// create creates the ordinal's missing pod (and first its claims).
	create
	// ensureClaims creates the missing claims of a live pod.
	ensureClaims
	// scaleDown deletes a pod beyond the replicas, first making it own its
	// claims when whenScaled is Delete.
	scaleDown
	// update deletes a pod of an old revision, to recreate it at the new.
	update
)

// step is one write of a sync.
type step struct {
	action action
	ord    int
	// pod is the pod acted on; nil for create.
	pod *corev1.Pod
	// rev is the revision create makes the pod from.
	rev revision
}

// decide returns the steps of one sync of set toward its replicas and its
// update revision, in order; the sync stops at the first that fails.
// OrderedReady (monotonic) management takes one step that changes a pod
// and stops where it has to wait for a pod to be healthy; Parallel takes
// every step it can.
func decide(set *appsv1.StatefulSet, pods []*corev1.Pod, current, updateRev revision, now time.Time) []step {
	var steps []step
	start, n := startOrdinal(set), replicas(set)
	monotonic := set.Spec.PodManagementPolicy != appsv1.ParallelPodManagement
	isHealthy := func(p *corev1.Pod) bool { return healthy(set, p, now) }
	slots := make([]*corev1.Pod, n)
	var condemned []*corev1.Pod
	for _, p := range pods {
		o := ordinal(set, p)
		if o >= start && o < start+n {
			slots[o-start] = p
		} else {
			condemned = append(condemned, p)
		}
	}
	sort.Slice(condemned, func(i, j int) bool { return ordinal(set, condemned[i]) > ordinal(set, condemned[j]) })
	partition := 0
	if set.Spec.UpdateStrategy.Type != appsv1.OnDeleteStatefulSetStrategyType &&
		set.Spec.UpdateStrategy.RollingUpdate != nil && set.Spec.UpdateStrategy.RollingUpdate.Partition != nil {
		partition = int(*set.Spec.UpdateStrategy.RollingUpdate.Partition)
	}

	// Pass 1: replace failed pods, create missing ones.
	for i, p := range slots {
		ord := start + i
		if p != nil && reconcile.IsPodTerminal(p) && p.DeletionTimestamp == nil {
			// A terminated stateful pod is recreated under the same name.
			steps = append(steps, step{action: recreate, ord: ord, pod: p})
			if monotonic {
				return steps
			}
			continue
		}
		if p == nil {
			rev := updateRev
			if ord < partition {
				rev = current
			}
			steps = append(steps, step{action: create, ord: ord, rev: rev})
			if monotonic {
				return steps
			}
			continue
		}
		steps = append(steps, step{action: ensureClaims, ord: ord, pod: p})
		if monotonic && !isHealthy(p) {
			return steps // wait for this ordinal before touching the next
		}
	}

	// Pass 2: remove condemned ordinals, highest first. OrderedReady
	// removes an unhealthy one only when it is the lowest unhealthy pod of
	// the set, as upstream: scaling down halts behind a broken pod.
	var firstUnhealthy *corev1.Pod
	for _, p := range slots {
		if p != nil && !isHealthy(p) {
			firstUnhealthy = p
			break
		}
	}
	for i := len(condemned) - 1; i >= 0 && firstUnhealthy == nil; i-- {
		if !isHealthy(condemned[i]) {
			firstUnhealthy = condemned[i]
		}
	}
	for _, p := range condemned {
		if p.DeletionTimestamp != nil {
			if monotonic {
				return steps
			}
			continue
		}
		if monotonic {
			for _, q := range slots {
				if q == nil || !isHealthy(q) {
					return steps
				}
			}
			if !isHealthy(p) && p != firstUnhealthy {
				return steps
			}
		}
		steps = append(steps, step{action: scaleDown, ord: ordinal(set, p), pod: p})
		if monotonic {
			return steps
		}
	}

	// Pass 3: rolling update from the highest ordinal to the partition.
	if set.Spec.UpdateStrategy.Type == appsv1.OnDeleteStatefulSetStrategyType {
		return steps
	}
	maxUnavailable := 1
	if ru := set.Spec.UpdateStrategy.RollingUpdate; ru != nil && ru.MaxUnavailable != nil && !monotonic {
		if v, err := intOrPercent(ru.MaxUnavailable.String(), n); err == nil && v > 0 {
			maxUnavailable = v
		}
	}
	unavailable := 0
	for _, p := range slots {
		if p == nil || !isHealthy(p) {
			unavailable++
		}
	}
	for i := len(slots) - 1; i >= 0 && start+i >= partition; i-- {
		p := slots[i]
		if p == nil || revisionOf(p) == updateRev.rev.Name {
			continue
		}
		if p.DeletionTimestamp != nil || unavailable >= maxUnavailable {
			return steps
		}
		steps = append(steps, step{action: update, ord: start + i, pod: p})
		unavailable++
	}
	return steps
}
