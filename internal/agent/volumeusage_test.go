package agent

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
)

// TestVolumeUsageExceeded: a 1 MiB volume on a filesystem that cannot
// bound it (the test's temp dir) warns its claim once when a 2 MiB file
// takes it over capacity, not again while it stays over, and again
// after it went back under and over.
func TestVolumeUsageExceeded(t *testing.T) {
	storage := t.TempDir()
	if onBtrfs(storage) {
		t.Skip("the temp dir is on btrfs, which bounds the volume")
	}
	rec := record.NewFakeRecorder(10)
	l := &localPaths{dir: storage, node: "n1", log: slog.New(slog.DiscardHandler), vols: map[string]*lpVolume{}, recorder: rec,
		informer: cache.NewSharedIndexInformer(&cache.ListWatch{}, &corev1.PersistentVolume{}, 0, cache.Indexers{})}
	pv := &corev1.PersistentVolume{
		ObjectMeta: metav1.ObjectMeta{Name: "pvc-x"},
		Spec: corev1.PersistentVolumeSpec{
			Capacity:               corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Mi")},
			PersistentVolumeSource: corev1.PersistentVolumeSource{Local: &corev1.LocalVolumeSource{Path: filepath.Join(storage, "pvc-x")}},
			ClaimRef:               &corev1.ObjectReference{Kind: "PersistentVolumeClaim", Namespace: "default", Name: "data"},
		},
	}
	if err := l.informer.GetStore().Add(pv); err != nil {
		t.Fatal(err)
	}
	if err := l.ensure(context.Background(), pv); err != nil {
		t.Fatalf("ensure: %v", err)
	}
	if v := l.vols["pvc-x"]; v == nil || !v.Warned {
		t.Skipf("the temp dir's filesystem enforces the capacity (volume state %+v)", v)
	}
	events := func() []string {
		var got []string
		for {
			select {
			case e := <-rec.Events:
				got = append(got, e)
			default:
				return got
			}
		}
	}
	notEnforced := events()
	if len(notEnforced) != 1 || !strings.Contains(notEnforced[0], EventVolumeCapacityNotEnforced) ||
		!strings.Contains(notEnforced[0], "usage is checked periodically") {
		t.Fatalf("events on creation: %q, want one %s saying usage is checked", notEnforced, EventVolumeCapacityNotEnforced)
	}

	big := filepath.Join(pv.Spec.Local.Path, "big")
	exceeded := "Warning VolumeCapacityExceeded volume pvc-x uses "
	steps := []struct {
		name   string
		change func() error
		want   int // VolumeCapacityExceeded events
	}{
		{"within capacity", func() error { return nil }, 0},
		{"a 2 MiB file", func() error { return write(big, 2<<20) }, 1},
		{"still over", func() error { return nil }, 0},
		{"file removed", func() error { return os.Remove(big) }, 0},
		{"over again", func() error { return write(big, 2<<20) }, 1},
	}
	for _, s := range steps {
		if err := s.change(); err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		if err := l.checkUsage(); err != nil {
			t.Fatalf("%s: check usage: %v", s.name, err)
		}
		got := events()
		var want []string
		for range s.want {
			want = append(want, exceeded)
		}
		for i := range got {
			if strings.HasPrefix(got[i], exceeded) && strings.HasSuffix(got[i], "of its 1Mi capacity; the filesystem at "+storage+" cannot enforce it") {
				got[i] = exceeded
			}
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("%s: events (-want +got):\n%s", s.name, diff)
		}
	}
}

func TestDirUsage(t *testing.T) {
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "a", "b"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"one", "a/two", "a/b/three"} {
		if err := write(filepath.Join(dir, f), 1<<20); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Link(filepath.Join(dir, "one"), filepath.Join(dir, "a", "link")); err != nil {
		t.Fatal(err)
	}
	all, err := dirUsage(dir, 1<<40)
	if err != nil {
		t.Fatal(err)
	}
	if all < 3<<20 || all >= 4<<20 {
		t.Errorf("usage %d, want 3 MiB and the directories (a hard link counts once)", all)
	}
	part, err := dirUsage(dir, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	if part <= 1<<20 || part >= all {
		t.Errorf("usage with a 1 MiB limit %d, want over 1 MiB and under the full %d (stops early)", part, all)
	}
}
