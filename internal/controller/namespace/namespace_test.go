package namespace

import (
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
)

func TestConditions(t *testing.T) {
	now := time.Unix(0, 0)
	tests := []struct {
		name string
		p    progress
		want map[corev1.NamespaceConditionType]string
	}{
		{"all done", progress{}, map[corev1.NamespaceConditionType]string{
			corev1.NamespaceDeletionDiscoveryFailure: "False/ResourcesDiscovered",
			corev1.NamespaceDeletionGVParsingFailure: "False/ParsedGroupVersions",
			corev1.NamespaceDeletionContentFailure:   "False/ContentDeleted",
			corev1.NamespaceContentRemaining:         "False/ContentRemoved",
			corev1.NamespaceFinalizersRemaining:      "False/ContentHasNoFinalizers",
		}},
		{"pods remain with finalizers, a delete failed", progress{
			deleteErrs: []error{errors.New("delete pods x: boom")},
			remaining:  map[string]int{"pods": 2},
			finalizers: map[string]int{"example.com/hold": 1},
		}, map[corev1.NamespaceConditionType]string{
			corev1.NamespaceDeletionDiscoveryFailure: "False/ResourcesDiscovered",
			corev1.NamespaceDeletionGVParsingFailure: "False/ParsedGroupVersions",
			corev1.NamespaceDeletionContentFailure:   "True/ContentDeletionFailed",
			corev1.NamespaceContentRemaining:         "True/SomeResourcesRemain",
			corev1.NamespaceFinalizersRemaining:      "True/SomeFinalizersRemain",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := map[corev1.NamespaceConditionType]string{}
			for _, c := range conditions(tt.p, now) {
				got[c.Type] = string(c.Status) + "/" + c.Reason
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
	msg := conditions(progress{remaining: map[string]int{"pods": 2}}, now)[3].Message
	if want := "Some resources are remaining: pods has 2 instances"; msg != want {
		t.Errorf("message %q, want %q", msg, want)
	}
}
