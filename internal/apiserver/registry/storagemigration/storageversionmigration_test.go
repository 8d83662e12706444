package storagemigration

import (
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	svmv1 "k8s.io/api/storagemigration/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

func errStrings[E interface{ Error() string }](errs []E) []string {
	var out []string
	for _, e := range errs {
		out = append(out, e.Error())
	}
	return out
}

func TestValidateSpec(t *testing.T) {
	s := Resources()[0].Strategy
	tests := []struct {
		name string
		gr   metav1.GroupResource
		want []string
	}{
		{name: "core resource", gr: metav1.GroupResource{Resource: "configmaps"}},
		{name: "group resource", gr: metav1.GroupResource{Group: "apps", Resource: "deployments"}},
		{name: "resource of a custom group", gr: metav1.GroupResource{Group: "stable.example.com", Resource: "crontabs"}},
		{name: "no resource", gr: metav1.GroupResource{Group: "apps"},
			want: []string{"spec.resource.resource: Required value: resource is required to be set"}},
		{name: "resource not a DNS-1035 label", gr: metav1.GroupResource{Resource: "1pods"},
			want: []string{`spec.resource.resource: Invalid value: "1pods": a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')`}},
		{name: "group not a DNS subdomain", gr: metav1.GroupResource{Group: "Apps_", Resource: "deployments"},
			want: []string{`spec.resource.group: Invalid value: "Apps_": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			svm := &svmv1.StorageVersionMigration{Spec: svmv1.StorageVersionMigrationSpec{Resource: tt.gr}}
			if diff := cmp.Diff(tt.want, errStrings(s.Validate(svm))); diff != "" {
				t.Errorf("errors (-want +got):\n%s", diff)
			}
		})
	}
}

func TestCreateAndUpdate(t *testing.T) {
	s := Resources()[0].Strategy
	svm := &svmv1.StorageVersionMigration{
		Spec:   svmv1.StorageVersionMigrationSpec{Resource: metav1.GroupResource{Resource: "configmaps"}},
		Status: svmv1.StorageVersionMigrationStatus{ResourceVersion: "5"},
	}
	s.PrepareForCreate(svm)
	if svm.Status.ResourceVersion != "" {
		t.Errorf("create kept the status: %+v", svm.Status)
	}

	old := svm.DeepCopy()
	old.Status.ResourceVersion = "7"
	upd := svm.DeepCopy()
	upd.Labels = map[string]string{"a": "b"}
	s.PrepareForUpdate(upd, old)
	if upd.Status.ResourceVersion != "7" {
		t.Errorf("an update changed the status: %+v", upd.Status)
	}
	if errs := s.ValidateUpdate(upd, old); len(errs) != 0 {
		t.Errorf("label update: %v", errs)
	}
	upd.Spec.Resource.Resource = "secrets"
	want := []string{`spec: Invalid value: {"resource":{"group":"","resource":"secrets"}}: field is immutable`}
	if diff := cmp.Diff(want, errStrings(s.ValidateUpdate(upd, old))); diff != "" {
		t.Errorf("spec update (-want +got):\n%s", diff)
	}
}

// brief renders errors without their values, which for conditions are
// whole lists.
func brief(errs field.ErrorList) []string {
	var out []string
	for _, e := range errs {
		out = append(out, fmt.Sprintf("%s: %s: %s", e.Field, e.Type, e.Detail))
	}
	return out
}

func cond(typ svmv1.MigrationConditionType, status metav1.ConditionStatus) metav1.Condition {
	return metav1.Condition{Type: string(typ), Status: status, Reason: "Test",
		LastTransitionTime: metav1.NewTime(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))}
}

func TestStatusUpdate(t *testing.T) {
	st := Resources()[0].Strategy.SubresourceUpdates["status"]
	running := cond(svmv1.MigrationRunning, metav1.ConditionTrue)
	succeeded := cond(svmv1.MigrationSucceeded, metav1.ConditionTrue)
	failed := cond(svmv1.MigrationFailed, metav1.ConditionTrue)
	tests := []struct {
		name     string
		old, new svmv1.StorageVersionMigrationStatus
		want     []string
	}{
		{name: "running", new: svmv1.StorageVersionMigrationStatus{Conditions: []metav1.Condition{running}}},
		{name: "set the resource version", new: svmv1.StorageVersionMigrationStatus{ResourceVersion: "42"}},
		{name: "any condition type", new: svmv1.StorageVersionMigrationStatus{Conditions: []metav1.Condition{
			{Type: "TestCondition", Status: metav1.ConditionTrue, Reason: "TestReason", Message: "TestMessage", LastTransitionTime: running.LastTransitionTime}}}},
		{
			name: "running dropped",
			old:  svmv1.StorageVersionMigrationStatus{Conditions: []metav1.Condition{running}},
			new:  svmv1.StorageVersionMigrationStatus{},
		},
		{
			name: "succeeded after running",
			old:  svmv1.StorageVersionMigrationStatus{ResourceVersion: "42", Conditions: []metav1.Condition{running}},
			new:  svmv1.StorageVersionMigrationStatus{ResourceVersion: "42", Conditions: []metav1.Condition{running, succeeded}},
		},
		{
			name: "malformed resource version",
			new:  svmv1.StorageVersionMigrationStatus{ResourceVersion: "042"},
			want: []string{"status.resourceVersion: Invalid value: resource version is not well formed: 042"},
		},
		{
			name: "resource version changed",
			old:  svmv1.StorageVersionMigrationStatus{ResourceVersion: "42"},
			new:  svmv1.StorageVersionMigrationStatus{ResourceVersion: "43"},
			want: []string{"status.resourceVersion: Invalid value: field is immutable"},
		},
		{
			name: "resource version removed",
			old:  svmv1.StorageVersionMigrationStatus{ResourceVersion: "42"},
			new:  svmv1.StorageVersionMigrationStatus{},
			want: []string{"status.resourceVersion: Invalid value: field is immutable"},
		},
		{
			name: "invalid and duplicate conditions",
			new: svmv1.StorageVersionMigrationStatus{Conditions: []metav1.Condition{
				running, running, {Type: "Other", Status: "Maybe", Reason: "Test", LastTransitionTime: running.LastTransitionTime}}},
			want: []string{
				"status.conditions[1]: Duplicate value: ",
				`status.conditions[2].status: Unsupported value: supported values: "False", "True", "Unknown"`,
			},
		},
		{
			name: "both succeeded and failed",
			new:  svmv1.StorageVersionMigrationStatus{Conditions: []metav1.Condition{succeeded, failed}},
			want: []string{"status.conditions: Invalid value: Both success and failed conditions cannot be true at the same time"},
		},
		{
			name: "succeeded goes away",
			old:  svmv1.StorageVersionMigrationStatus{Conditions: []metav1.Condition{succeeded}},
			new:  svmv1.StorageVersionMigrationStatus{Conditions: []metav1.Condition{running}},
			want: []string{"status.conditions: Invalid value: Success condition cannot be set to false once it is true"},
		},
		{
			name: "failed turns false",
			old:  svmv1.StorageVersionMigrationStatus{Conditions: []metav1.Condition{failed}},
			new:  svmv1.StorageVersionMigrationStatus{Conditions: []metav1.Condition{cond(svmv1.MigrationFailed, metav1.ConditionFalse)}},
			want: []string{"status.conditions: Invalid value: Failed condition cannot be set to false once it is true"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			spec := svmv1.StorageVersionMigrationSpec{Resource: metav1.GroupResource{Resource: "configmaps"}}
			old := &svmv1.StorageVersionMigration{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"a": "b"}}, Spec: spec, Status: tt.old}
			upd := &svmv1.StorageVersionMigration{Spec: svmv1.StorageVersionMigrationSpec{Resource: metav1.GroupResource{Resource: "secrets"}}, Status: tt.new}
			st.Prepare(upd, old)
			if upd.Spec != spec || upd.Labels["a"] != "b" {
				t.Errorf("/status changed the spec or labels: %+v, %v", upd.Spec, upd.Labels)
			}
			got := brief(st.Validate(upd, old))
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("errors (-want +got):\n%s", diff)
			}
		})
	}
}

func TestTableRow(t *testing.T) {
	s := Resources()[0].Strategy
	svm := &svmv1.StorageVersionMigration{Spec: svmv1.StorageVersionMigrationSpec{Resource: metav1.GroupResource{Group: "apps", Resource: "deployments"}}}
	if diff := cmp.Diff([]interface{}{"deployments.apps", "Unknown"}, s.TableRow(svm)); diff != "" {
		t.Errorf("row (-want +got):\n%s", diff)
	}
	svm.Status.Conditions = []metav1.Condition{
		cond(svmv1.MigrationRunning, metav1.ConditionFalse),
		cond(svmv1.MigrationSucceeded, metav1.ConditionTrue),
	}
	if diff := cmp.Diff([]interface{}{"deployments.apps", "Succeeded"}, s.TableRow(svm)); diff != "" {
		t.Errorf("row (-want +got):\n%s", diff)
	}
}
