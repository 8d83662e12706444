package storageversionmigrator

import (
	"errors"
	"testing"
	"time"

	svmv1 "k8s.io/api/storagemigration/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func svm(name string, created int, gr string, rv string, conds ...svmv1.MigrationConditionType) *svmv1.StorageVersionMigration {
	s := &svmv1.StorageVersionMigration{
		ObjectMeta: metav1.ObjectMeta{Name: name, CreationTimestamp: metav1.NewTime(time.Unix(int64(created), 0))},
		Spec:       svmv1.StorageVersionMigrationSpec{Resource: metav1.GroupResource{Resource: gr}},
		Status:     svmv1.StorageVersionMigrationStatus{ResourceVersion: rv},
	}
	for _, c := range conds {
		s.Status.Conditions = append(s.Status.Conditions, metav1.Condition{Type: string(c), Status: metav1.ConditionTrue})
	}
	return s
}

func TestNextStep(t *testing.T) {
	const (
		running   = svmv1.MigrationRunning
		succeeded = svmv1.MigrationSucceeded
		failed    = svmv1.MigrationFailed
	)
	tests := []struct {
		name   string
		svm    *svmv1.StorageVersionMigration
		others []*svmv1.StorageVersionMigration
		want   step
	}{
		{name: "new", svm: svm("a", 1, "configmaps", ""), want: stepStart},
		{name: "running without checkpoint", svm: svm("a", 1, "configmaps", "", running), want: stepCheckpoint},
		{name: "running with checkpoint", svm: svm("a", 1, "configmaps", "42", running), want: stepMigrate},
		{name: "succeeded while running", svm: svm("a", 1, "configmaps", "42", running, succeeded), want: stepFinish},
		{name: "failed while running", svm: svm("a", 1, "configmaps", "", running, failed), want: stepFinish},
		{name: "succeeded", svm: svm("a", 1, "configmaps", "42", succeeded), want: stepNone},
		{name: "failed", svm: svm("a", 1, "configmaps", "", failed), want: stepNone},
		{
			name:   "another of the resource runs",
			svm:    svm("b", 1, "configmaps", ""),
			others: []*svmv1.StorageVersionMigration{svm("a", 2, "configmaps", "", running)},
			want:   stepNone,
		},
		{
			name:   "an older one of the resource waits",
			svm:    svm("b", 2, "configmaps", ""),
			others: []*svmv1.StorageVersionMigration{svm("a", 1, "configmaps", "")},
			want:   stepNone,
		},
		{
			name:   "of two as old, the first by name",
			svm:    svm("a", 1, "configmaps", ""),
			others: []*svmv1.StorageVersionMigration{svm("b", 1, "configmaps", "")},
			want:   stepStart,
		},
		{
			name: "finished ones and other resources do not hold it back",
			svm:  svm("c", 5, "configmaps", ""),
			others: []*svmv1.StorageVersionMigration{
				svm("a", 1, "configmaps", "42", running, succeeded),
				svm("b", 2, "configmaps", "", failed),
				svm("d", 1, "secrets", "", running),
			},
			want: stepStart,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			all := append([]*svmv1.StorageVersionMigration{tt.svm}, tt.others...)
			if got := nextStep(tt.svm, all); got != tt.want {
				t.Errorf("nextStep = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestRunningMessage(t *testing.T) {
	for _, tt := range []struct {
		pending, total int
		err            error
		want           string
	}{
		{0, 0, nil, "The migration is running"},
		{2, 5, nil, "The migration is running, 2/5 objects not yet migrated"},
		{0, 5, nil, "The migration is running, 5 objects verified migrated"},
		{1, 5, errors.New("etcdserver: request timed out"), "The migration is running, 1/5 objects not yet migrated; transient error: etcdserver: request timed out"},
	} {
		if got := runningMessage(tt.pending, tt.total, tt.err); got != tt.want {
			t.Errorf("runningMessage(%d, %d, %v) = %q, want %q", tt.pending, tt.total, tt.err, got, tt.want)
		}
	}
}

func TestCRDName(t *testing.T) {
	for gr, want := range map[metav1.GroupResource]string{
		{Resource: "configmaps"}:                            "",
		{Group: "apps", Resource: "deployments"}:            "",
		{Group: "stable.example.com", Resource: "crontabs"}: "crontabs.stable.example.com",
	} {
		if got := crdName(gr); got != want {
			t.Errorf("crdName(%v) = %q, want %q", gr, got, want)
		}
	}
}
