package resourcequota

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

// TestQuotaHandler checks which quota updates cause a recount: not one of
// status.used alone (what quota admission writes before the object it
// admitted is stored).
func TestQuotaHandler(t *testing.T) {
	quota := func(hardPods, statusPods, usedPods string) *corev1.ResourceQuota {
		return &corev1.ResourceQuota{
			Spec: corev1.ResourceQuotaSpec{Hard: corev1.ResourceList{corev1.ResourcePods: resource.MustParse(hardPods)}},
			Status: corev1.ResourceQuotaStatus{
				Hard: corev1.ResourceList{corev1.ResourcePods: resource.MustParse(statusPods)},
				Used: corev1.ResourceList{corev1.ResourcePods: resource.MustParse(usedPods)},
			},
		}
	}
	tests := []struct {
		name     string
		old, cur *corev1.ResourceQuota
		want     bool
	}{
		{name: "used charged", old: quota("2", "2", "0"), cur: quota("2", "2", "1"), want: false},
		{name: "limit raised", old: quota("2", "2", "1"), cur: quota("3", "2", "1"), want: true},
		{name: "status hard tampered", old: quota("2", "2", "1"), cur: quota("2", "5", "1"), want: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := false
			quotaHandler(func(any) { got = true }).OnUpdate(tt.old, tt.cur)
			if got != tt.want {
				t.Errorf("enqueued %v, want %v", got, tt.want)
			}
		})
	}
}
