package server_test

import (
	"context"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"skiff/internal/server/servertest"
)

// TestNodeListsItsLocalPathVolumes checks that a node may list and watch
// PersistentVolumes only with the label selector naming it, which its
// agent's local-path loop uses.
func TestNodeListsItsLocalPathVolumes(t *testing.T) {
	s := servertest.Start(t, nil)
	ctx := context.Background()
	a := s.NodeClient(t, "a")
	pvs := a.CoreV1().PersistentVolumes()
	if _, err := pvs.List(ctx, metav1.ListOptions{LabelSelector: "skiff.io/local-path-node=a"}); err != nil {
		t.Errorf("a lists its local-path volumes: %v", err)
	}
	w, err := pvs.Watch(ctx, metav1.ListOptions{LabelSelector: "skiff.io/local-path-node=a"})
	if err != nil {
		t.Errorf("a watches its local-path volumes: %v", err)
	} else {
		w.Stop()
	}
	for _, sel := range []string{"", "skiff.io/local-path-node=b", "other=a"} {
		if _, err := pvs.List(ctx, metav1.ListOptions{LabelSelector: sel}); !apierrors.IsForbidden(err) {
			t.Errorf("a lists volumes with selector %q: %v, want 403", sel, err)
		}
	}
}
