package registry

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	batchv1 "k8s.io/api/batch/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestStatusUpdateMetadata(t *testing.T) {
	now := metav1.Now()
	old := &batchv1.CronJob{
		ObjectMeta: metav1.ObjectMeta{
			Name: "cj", Generation: 2, Labels: map[string]string{"l": "old"},
			Annotations: map[string]string{"a": "old"}, Finalizers: []string{"old"},
		},
		Spec: batchv1.CronJobSpec{Schedule: "* * * * *"},
	}
	update := func() *batchv1.CronJob {
		obj := old.DeepCopy()
		obj.Generation = 7
		obj.DeletionTimestamp = &now
		obj.Labels = map[string]string{"l": "new"}
		obj.Annotations = map[string]string{"a": "new"}
		obj.Finalizers = []string{"new"}
		obj.Spec.Schedule = "@hourly"
		obj.Status.LastScheduleTime = &now
		return obj
	}
	type meta struct {
		Labels, Annotations map[string]string
		Finalizers          []string
	}
	tests := []struct {
		name string
		st   Status
		want meta
	}{
		{
			name: "default: metadata passes, as most upstream status strategies",
			want: meta{map[string]string{"l": "new"}, map[string]string{"a": "new"}, []string{"new"}},
		},
		{
			name: "ResetMetadata keeps old's",
			st:   Status{ResetMetadata: true},
			want: meta{map[string]string{"l": "old"}, map[string]string{"a": "old"}, []string{"old"}},
		},
		{
			name: "KeepLabels keeps only labels",
			st:   Status{KeepLabels: true},
			want: meta{map[string]string{"l": "old"}, map[string]string{"a": "new"}, []string{"new"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			obj := update()
			StatusUpdate(tt.st).Prepare(obj, old)
			got := meta{obj.Labels, obj.Annotations, obj.Finalizers}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("metadata (-want +got):\n%s", diff)
			}
			if obj.Generation != 2 || obj.DeletionTimestamp != nil {
				t.Errorf("generation %d, deletionTimestamp %v: want old's", obj.Generation, obj.DeletionTimestamp)
			}
			if obj.Spec.Schedule != old.Spec.Schedule || obj.Status.LastScheduleTime == nil {
				t.Errorf("spec %q, status %v: want old spec and new status", obj.Spec.Schedule, obj.Status)
			}
		})
	}
}
