package nodelifecycle

import (
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Taint keys the controller manages.
const (
	TaintNotReady           = "node.kubernetes.io/not-ready"
	TaintUnreachable        = "node.kubernetes.io/unreachable"
	TaintMemoryPressure     = "node.kubernetes.io/memory-pressure"
	TaintDiskPressure       = "node.kubernetes.io/disk-pressure"
	TaintPIDPressure        = "node.kubernetes.io/pid-pressure"
	TaintNetworkUnavailable = "node.kubernetes.io/network-unavailable"
	TaintUnschedulable      = "node.kubernetes.io/unschedulable"
)

var managed = map[string]bool{
	TaintNotReady: true, TaintUnreachable: true, TaintMemoryPressure: true, TaintDiskPressure: true,
	TaintPIDPressure: true, TaintNetworkUnavailable: true, TaintUnschedulable: true,
}

func conditionStatus(n *corev1.Node, t corev1.NodeConditionType) corev1.ConditionStatus {
	for _, c := range n.Status.Conditions {
		if c.Type == t {
			return c.Status
		}
	}
	return ""
}

// desiredTaints returns the node's taints with the managed ones replaced
// by what its conditions call for; existing taints keep their timeAdded.
func desiredTaints(n *corev1.Node, now time.Time) []corev1.Taint {
	var want []corev1.Taint
	add := func(key string, effect corev1.TaintEffect) {
		want = append(want, corev1.Taint{Key: key, Effect: effect})
	}
	switch conditionStatus(n, corev1.NodeReady) {
	case corev1.ConditionFalse:
		add(TaintNotReady, corev1.TaintEffectNoSchedule)
		add(TaintNotReady, corev1.TaintEffectNoExecute)
	case corev1.ConditionUnknown:
		add(TaintUnreachable, corev1.TaintEffectNoSchedule)
		add(TaintUnreachable, corev1.TaintEffectNoExecute)
	}
	for t, key := range map[corev1.NodeConditionType]string{
		corev1.NodeMemoryPressure: TaintMemoryPressure, corev1.NodeDiskPressure: TaintDiskPressure,
		corev1.NodePIDPressure: TaintPIDPressure, corev1.NodeNetworkUnavailable: TaintNetworkUnavailable,
	} {
		if conditionStatus(n, t) == corev1.ConditionTrue {
			add(key, corev1.TaintEffectNoSchedule)
		}
	}
	if n.Spec.Unschedulable {
		add(TaintUnschedulable, corev1.TaintEffectNoSchedule)
	}
	var out []corev1.Taint
	for _, t := range n.Spec.Taints {
		if !managed[t.Key] {
			out = append(out, t)
		}
	}
	for _, w := range want {
		kept := false
		for _, t := range n.Spec.Taints {
			if t.Key == w.Key && t.Effect == w.Effect {
				out = append(out, t)
				kept = true
				break
			}
		}
		if !kept {
			if w.Effect == corev1.TaintEffectNoExecute {
				// metav1.Time serializes at second precision.
				ts := now.Truncate(time.Second)
				w.TimeAdded = timePtr(ts)
			}
			out = append(out, w)
		}
	}
	return out
}

// evictionTime says when a pod must leave a node with the given taints:
// never (ok=false) when it tolerates all NoExecute taints without a
// tolerationSeconds. As upstream, the limit is the smallest finite
// tolerationSeconds among the tolerations that match, counted from when
// the newest NoExecute taint was added.
func evictionTime(p *corev1.Pod, taints []corev1.Taint, now time.Time) (at time.Time, ok bool) {
	var since time.Time
	var limit *int64
	for i := range taints {
		t := &taints[i]
		if t.Effect != corev1.TaintEffectNoExecute {
			continue
		}
		added := now
		if t.TimeAdded != nil {
			added = t.TimeAdded.Time
		}
		if added.After(since) {
			since = added
		}
		tolerated := false
		for j := range p.Spec.Tolerations {
			tol := &p.Spec.Tolerations[j]
			if !tol.ToleratesTaint(logr.Discard(), t, false) {
				continue
			}
			tolerated = true
			if s := tol.TolerationSeconds; s != nil && (limit == nil || *s < *limit) {
				v := max(*s, 0)
				limit = &v
			}
		}
		if !tolerated {
			return now, true
		}
	}
	if limit == nil {
		return time.Time{}, false
	}
	return since.Add(time.Duration(*limit) * time.Second), true
}

func timePtr(t time.Time) *metav1.Time {
	m := metav1.NewTime(t)
	return &m
}
