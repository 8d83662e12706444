package agent

import (
	"os"
	"path/filepath"
	"testing"

	corev1 "k8s.io/api/core/v1"
)

func TestSetVolumeOwnership(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("changing a file's group to any group needs root")
	}
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "sub", "f"), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("sub/f", filepath.Join(dir, "link")); err != nil {
		t.Fatal(err)
	}
	gid := int64(4321)
	for _, tt := range []struct {
		name     string
		readOnly bool
		wantFile os.FileMode
	}{
		{"writable", false, 0o660},
		{"read-only", true, 0o640},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if err := os.Chmod(filepath.Join(dir, "sub", "f"), 0o600); err != nil {
				t.Fatal(err)
			}
			if err := setVolumeOwnership(dir, &corev1.PodSecurityContext{FSGroup: &gid}, tt.readOnly); err != nil {
				t.Fatal(err)
			}
			for _, p := range []string{dir, filepath.Join(dir, "sub"), filepath.Join(dir, "sub", "f")} {
				info, err := os.Lstat(p)
				if err != nil {
					t.Fatal(err)
				}
				if g := fileGID(info); g != int(gid) {
					t.Errorf("%s: group %d, want %d", p, g, gid)
				}
				if info.IsDir() && info.Mode()&os.ModeSetgid == 0 {
					t.Errorf("%s: no setgid bit: %v", p, info.Mode())
				}
			}
			info, _ := os.Lstat(filepath.Join(dir, "sub", "f"))
			if got := info.Mode().Perm(); got != tt.wantFile {
				t.Errorf("file mode %v, want %v", got, tt.wantFile)
			}
		})
	}
	// No fsGroup: nothing changes.
	if err := setVolumeOwnership(dir, &corev1.PodSecurityContext{}, false); err != nil {
		t.Fatal(err)
	}
}
