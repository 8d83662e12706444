package statefulset

import (
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
)

func TestDecide(t *testing.T) {
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	oldRev := revision{rev: &appsv1.ControllerRevision{ObjectMeta: metav1.ObjectMeta{Name: "web-old"}}}
	newRev := revision{rev: &appsv1.ControllerRevision{ObjectMeta: metav1.ObjectMeta{Name: "web-new"}}}
	set := func(replicas int32, mut ...func(*appsv1.StatefulSet)) *appsv1.StatefulSet {
		s := &appsv1.StatefulSet{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "ns", UID: "set"},
			Spec: appsv1.StatefulSetSpec{Replicas: ptr.To(replicas),
				UpdateStrategy: appsv1.StatefulSetUpdateStrategy{Type: appsv1.RollingUpdateStatefulSetStrategyType}}}
		for _, m := range mut {
			m(s)
		}
		return s
	}
	parallel := func(s *appsv1.StatefulSet) { s.Spec.PodManagementPolicy = appsv1.ParallelPodManagement }
	partition := func(p int32) func(*appsv1.StatefulSet) {
		return func(s *appsv1.StatefulSet) {
			s.Spec.UpdateStrategy.RollingUpdate = &appsv1.RollingUpdateStatefulSetStrategy{Partition: ptr.To(p)}
		}
	}
	// pod is ordinal ord of revision rev: "ready", "pending", "failed"
	// or "deleting".
	pod := func(ord int, rev revision, state string) *corev1.Pod {
		p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("web-%d", ord), Namespace: "ns",
			UID: types.UID(fmt.Sprintf("web-%d", ord)), Labels: map[string]string{appsv1.ControllerRevisionHashLabelKey: rev.rev.Name}}}
		switch state {
		case "ready", "deleting":
			p.Status.Phase = corev1.PodRunning
			p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue,
				LastTransitionTime: metav1.NewTime(now.Add(-time.Hour))}}
			if state == "deleting" {
				p.DeletionTimestamp = ptr.To(metav1.NewTime(now))
			}
		case "pending":
			p.Status.Phase = corev1.PodPending
		case "failed":
			p.Status.Phase = corev1.PodFailed
		}
		return p
	}
	tests := []struct {
		name string
		set  *appsv1.StatefulSet
		pods []*corev1.Pod
		want []string
	}{{
		name: "ordered: the first missing pod only",
		set:  set(3),
		want: []string{"create 0 web-new"},
	}, {
		name: "ordered: the next pod once the previous is ready",
		set:  set(3),
		pods: []*corev1.Pod{pod(0, newRev, "ready")},
		want: []string{"claims 0", "create 1 web-new"},
	}, {
		name: "ordered: wait for a pending pod",
		set:  set(3),
		pods: []*corev1.Pod{pod(0, newRev, "pending")},
		want: []string{"claims 0"},
	}, {
		name: "parallel: every missing pod at once",
		set:  set(3, parallel),
		pods: []*corev1.Pod{pod(1, newRev, "pending")},
		want: []string{"create 0 web-new", "claims 1", "create 2 web-new"},
	}, {
		name: "a failed pod is recreated",
		set:  set(2),
		pods: []*corev1.Pod{pod(0, newRev, "failed"), pod(1, newRev, "ready")},
		want: []string{"recreate 0"},
	}, {
		name: "ordered scale down: the highest ordinal first, one at a time",
		set:  set(1),
		pods: []*corev1.Pod{pod(0, newRev, "ready"), pod(1, newRev, "ready"), pod(2, newRev, "ready")},
		want: []string{"claims 0", "scale down 2"},
	}, {
		name: "ordered scale down waits for a pod already going",
		set:  set(1),
		pods: []*corev1.Pod{pod(0, newRev, "ready"), pod(1, newRev, "ready"), pod(2, newRev, "deleting")},
		want: []string{"claims 0"},
	}, {
		name: "ordered scale down halts behind an unhealthy pod that is not the lowest",
		set:  set(1),
		pods: []*corev1.Pod{pod(0, newRev, "ready"), pod(1, newRev, "pending"), pod(2, newRev, "pending")},
		want: []string{"claims 0"},
	}, {
		name: "ordered scale down removes the lowest unhealthy pod",
		set:  set(1),
		pods: []*corev1.Pod{pod(0, newRev, "ready"), pod(1, newRev, "pending")},
		want: []string{"claims 0", "scale down 1"},
	}, {
		name: "parallel scale down: all at once, highest first",
		set:  set(1, parallel),
		pods: []*corev1.Pod{pod(0, newRev, "ready"), pod(1, newRev, "ready"), pod(2, newRev, "ready")},
		want: []string{"claims 0", "scale down 2", "scale down 1"},
	}, {
		name: "rolling update: the highest old pod, one at a time",
		set:  set(2),
		pods: []*corev1.Pod{pod(0, oldRev, "ready"), pod(1, oldRev, "ready")},
		want: []string{"claims 0", "claims 1", "update 1"},
	}, {
		name: "rolling update waits while a pod is unavailable",
		set:  set(2),
		pods: []*corev1.Pod{pod(0, oldRev, "ready"), pod(1, newRev, "pending")},
		want: []string{"claims 0", "claims 1"},
	}, {
		name: "parallel rolling update within maxUnavailable",
		set: set(3, parallel, func(s *appsv1.StatefulSet) {
			s.Spec.UpdateStrategy.RollingUpdate = &appsv1.RollingUpdateStatefulSetStrategy{MaxUnavailable: ptr.To(intstr.FromInt32(2))}
		}),
		pods: []*corev1.Pod{pod(0, oldRev, "ready"), pod(1, oldRev, "ready"), pod(2, oldRev, "ready")},
		want: []string{"claims 0", "claims 1", "claims 2", "update 2", "update 1"},
	}, {
		name: "a partition keeps the ordinals below it",
		set:  set(3, partition(2)),
		pods: []*corev1.Pod{pod(0, oldRev, "ready"), pod(1, oldRev, "ready"), pod(2, newRev, "ready")},
		want: []string{"claims 0", "claims 1", "claims 2"},
	}, {
		name: "below the partition a missing pod comes back at the current revision",
		set:  set(2, partition(1)),
		pods: []*corev1.Pod{pod(1, newRev, "ready")},
		want: []string{"create 0 web-old"},
	}, {
		name: "OnDelete never deletes for an update",
		set: set(1, func(s *appsv1.StatefulSet) {
			s.Spec.UpdateStrategy = appsv1.StatefulSetUpdateStrategy{Type: appsv1.OnDeleteStatefulSetStrategyType}
		}),
		pods: []*corev1.Pod{pod(0, oldRev, "ready")},
		want: []string{"claims 0"},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			for _, s := range decide(tt.set, tt.pods, oldRev, newRev, now) {
				switch s.action {
				case recreate:
					got = append(got, fmt.Sprintf("recreate %d", s.ord))
				case create:
					got = append(got, fmt.Sprintf("create %d %s", s.ord, s.rev.rev.Name))
				case ensureClaims:
					got = append(got, fmt.Sprintf("claims %d", s.ord))
				case scaleDown:
					got = append(got, fmt.Sprintf("scale down %d", s.ord))
				case update:
					got = append(got, fmt.Sprintf("update %d", s.ord))
				}
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("decide (-want +got):\n%s", diff)
			}
		})
	}
}
