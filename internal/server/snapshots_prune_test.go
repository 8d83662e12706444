package server

import (
	"context"
	"os"
	"slices"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"

	"skiff/internal/etcd"
)

// TestSnapshotPrune: prune keeps the newest snapshots of one name and
// node, oldest going first, and leaves other names alone.
func TestSnapshotPrune(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	s := &snapshots{
		dir:  t.TempDir(),
		node: "n1",
		now:  func() time.Time { return now },
		save: func(_ context.Context, path string) (etcd.SnapshotStatus, error) {
			return etcd.SnapshotStatus{}, os.WriteFile(path, []byte("x"), 0o600)
		},
	}
	ctx := context.Background()
	var scheduled []string
	for i := range 4 {
		now = now.Add(time.Hour)
		sn, err := s.Save(ctx, scheduledSnapshotName)
		if err != nil {
			t.Fatal(err)
		}
		scheduled = append(scheduled, sn.Name)
		if i == 1 {
			if _, err := s.Save(ctx, ""); err != nil {
				t.Fatal(err)
			}
			if _, err := s.Save(ctx, ""); !apierrors.IsAlreadyExists(err) {
				t.Errorf("a second snapshot of a name in the same second: %v", err)
			}
		}
	}
	pruned, err := s.Prune(scheduledSnapshotName, 2)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(pruned, scheduled[:2]) {
		t.Errorf("pruned %v, want %v", pruned, scheduled[:2])
	}
	list, err := s.List()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, sn := range list {
		names = append(names, sn.Name)
	}
	want := []string{"on-demand-n1-1800007200", scheduled[2], scheduled[3]}
	if !slices.Equal(names, want) {
		t.Errorf("left %v, want %v", names, want)
	}
	if _, err := s.Prune("", 0); !apierrors.IsBadRequest(err) {
		t.Errorf("retention 0: %v", err)
	}
}
