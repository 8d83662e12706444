package daemonset

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
)

func TestPlace(t *testing.T) {
	tests := []struct {
		name   string
		taints []corev1.Taint
		tols   []corev1.Toleration
		want   placement
	}{
		{name: "untainted", want: placement{shouldRun: true, shouldContinueRunning: true}},
		{name: "NoSchedule keeps new pods off", taints: []corev1.Taint{{Key: "k", Effect: corev1.TaintEffectNoSchedule}},
			want: placement{shouldContinueRunning: true}},
		{name: "NoExecute evicts", taints: []corev1.Taint{{Key: "k", Effect: corev1.TaintEffectNoExecute}}},
		{name: "tolerated", taints: []corev1.Taint{{Key: "k", Effect: corev1.TaintEffectNoExecute}},
			tols: []corev1.Toleration{{Key: "k", Operator: corev1.TolerationOpExists}},
			want: placement{shouldRun: true, shouldContinueRunning: true}},
		{name: "unschedulable tolerated automatically", taints: []corev1.Taint{{Key: TaintNodeUnschedulable, Effect: corev1.TaintEffectNoSchedule}},
			want: placement{shouldRun: true, shouldContinueRunning: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pod := &corev1.Pod{Spec: corev1.PodSpec{Tolerations: tt.tols}}
			addDaemonTolerations(&pod.Spec)
			withNodeAffinity(&pod.Spec, "n1")
			node := &corev1.Node{Spec: corev1.NodeSpec{Taints: tt.taints}}
			node.Name = "n1"
			if diff := cmp.Diff(tt.want, place(pod, node), cmp.AllowUnexported(placement{})); diff != "" {
				t.Errorf("place (-want +got):\n%s", diff)
			}
		})
	}
}
