package images

import (
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestTags(t *testing.T) {
	path := filepath.Join(t.TempDir(), "pause.tar")
	if err := Write(path, Pause("localhost/skiff/pause:test", []byte("binary"))); err != nil {
		t.Fatal(err)
	}
	got, err := Tags(path)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"localhost/skiff/pause:test"}, got); diff != "" {
		t.Errorf("tags (-want +got):\n%s", diff)
	}
	if _, err := Tags(filepath.Join(t.TempDir(), "missing.tar")); err == nil {
		t.Error("no error for a missing file")
	}
}
