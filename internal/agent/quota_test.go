package agent

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// quotaFS mounts a fresh ext4 image with project quotas (prjquota); see
// loopFS.
func quotaFS(t *testing.T) string {
	t.Helper()
	// A kernel without CONFIG_QUOTA refuses the mount option.
	return loopFS(t, "ext4", 64<<20, []string{"mkfs.ext4", "-q", "-F", "-O", "quota,project"}, "prjquota", "e2fsprogs")
}

// loopFS makes a size-byte image with mkfs (its command and flags; the
// image is the last argument), mounts it as fstype with opts on a loop
// device in a temp dir, and unmounts and detaches it when the test ends.
// It skips without root, without the tools (pkg names their package), or
// when this kernel cannot mount it so.
func loopFS(t *testing.T, fstype string, size int64, mkfs []string, opts, pkg string) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skipf("a %s test filesystem needs root (mount, losetup)", fstype)
	}
	for _, tool := range []string{mkfs[0], "losetup", "mount", "umount"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("a %s test filesystem needs %s (%s, util-linux): %v", fstype, tool, pkg, err)
		}
	}
	run := func(name string, args ...string) string {
		t.Helper()
		out, err := exec.Command(name, args...).CombinedOutput()
		if err != nil {
			t.Fatalf("%s %s: %v: %s", name, strings.Join(args, " "), err, out)
		}
		return strings.TrimSpace(string(out))
	}
	tmp := t.TempDir()
	img, mnt := filepath.Join(tmp, "fs.img"), filepath.Join(tmp, "mnt")
	if err := os.Mkdir(mnt, 0o755); err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(img)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(size); err != nil {
		t.Fatal(err)
	}
	f.Close()
	run(mkfs[0], append(mkfs[1:], img)...)
	loop := run("losetup", "--find", "--show", img)
	t.Cleanup(func() {
		if out, err := exec.Command("losetup", "-d", loop).CombinedOutput(); err != nil {
			t.Errorf("losetup -d %s: %v: %s", loop, err, out)
		}
	})
	args := []string{"-t", fstype}
	if opts != "" {
		args = append(args, "-o", opts)
	}
	if out, err := exec.Command("mount", append(args, loop, mnt)...).CombinedOutput(); err != nil {
		t.Skipf("this kernel cannot mount %s %s: %v: %s", fstype, opts, err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", mnt).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v: %s", mnt, err, out)
		}
	})
	return mnt
}

// write writes n bytes to p in 64 KiB chunks and syncs, returning the
// first error.
func write(p string, n int) error {
	f, err := os.Create(p)
	if err != nil {
		return err
	}
	defer f.Close()
	buf := make([]byte, 64<<10)
	for ; n > 0; n -= len(buf) {
		if _, err := f.Write(buf[:min(n, len(buf))]); err != nil {
			return err
		}
	}
	return f.Sync()
}

// TestProjectQuota gives a local-path volume of 1 MiB its project quota
// on ext4: a 2 MiB write fails with EDQUOT and statfs in the volume shows
// 1 MiB; raising the PV's capacity to 4 MiB lets the write through.
func TestProjectQuota(t *testing.T) {
	storage := filepath.Join(quotaFS(t), "storage")
	if err := os.Mkdir(storage, 0o711); err != nil {
		t.Fatal(err)
	}
	l := &localPaths{dir: storage, node: "n1", log: slog.New(slog.DiscardHandler), vols: map[string]*lpVolume{}}
	pv := &corev1.PersistentVolume{
		ObjectMeta: metav1.ObjectMeta{Name: "pvc-q"},
		Spec: corev1.PersistentVolumeSpec{
			Capacity:               corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Mi")},
			PersistentVolumeSource: corev1.PersistentVolumeSource{Local: &corev1.LocalVolumeSource{Path: filepath.Join(storage, "pvc-q")}},
		},
	}
	ctx := context.Background()
	if err := l.ensure(ctx, pv); err != nil {
		t.Fatalf("ensure: %v", err)
	}
	dir := pv.Spec.Local.Path
	v := l.vols["pvc-q"]
	if v == nil || v.ProjectID < firstProjectID || v.Warned || v.QuotaBytes != 1<<20 {
		t.Fatalf("volume state %+v, want a project id and a 1 MiB quota", v)
	}
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		t.Fatal(err)
	}
	if got := int64(st.Blocks) * st.Bsize; got != 1<<20 {
		t.Errorf("statfs in the volume: %d bytes, want 1 MiB", got)
	}
	if err := write(filepath.Join(dir, "big"), 2<<20); !errors.Is(err, syscall.EDQUOT) {
		t.Fatalf("2 MiB write into a 1 MiB volume: %v, want EDQUOT", err)
	}
	if err := os.Remove(filepath.Join(dir, "big")); err != nil {
		t.Fatal(err)
	}

	// The state survives a restart: the same project id again.
	reloaded, err := os.ReadFile(filepath.Join(storage, localPathState))
	if err != nil || !strings.Contains(string(reloaded), `"pvc-q"`) {
		t.Fatalf("state file: %v %s", err, reloaded)
	}

	pv.Spec.Capacity[corev1.ResourceStorage] = resource.MustParse("4Mi")
	if err := l.ensure(ctx, pv); err != nil {
		t.Fatalf("ensure after growth: %v", err)
	}
	if err := write(filepath.Join(dir, "big"), 2<<20); err != nil {
		t.Fatalf("2 MiB write into a 4 MiB volume: %v", err)
	}
	if err := syscall.Statfs(dir, &st); err != nil {
		t.Fatal(err)
	}
	if got := int64(st.Blocks) * st.Bsize; got != 4<<20 {
		t.Errorf("statfs after growth: %d bytes, want 4 MiB", got)
	}
	if used, err := projectUsage(dir, v.ProjectID); err != nil || used < 2<<20 {
		t.Errorf("project usage %d, %v; want at least 2 MiB", used, err)
	}
}

// TestQuotaUnsupported: on a filesystem without project quotas (the
// test's temp dir, unless it has them) the volume is still created and
// marked warned, so that its claim hears it once.
func TestQuotaUnsupported(t *testing.T) {
	storage := t.TempDir()
	l := &localPaths{dir: storage, node: "n1", log: slog.New(slog.DiscardHandler), vols: map[string]*lpVolume{}}
	pv := &corev1.PersistentVolume{
		ObjectMeta: metav1.ObjectMeta{Name: "pvc-u"},
		Spec: corev1.PersistentVolumeSpec{
			Capacity:               corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Mi")},
			PersistentVolumeSource: corev1.PersistentVolumeSource{Local: &corev1.LocalVolumeSource{Path: filepath.Join(storage, "pvc-u")}},
		},
	}
	if err := l.ensure(context.Background(), pv); err != nil {
		t.Fatalf("ensure: %v", err)
	}
	if _, err := os.Stat(pv.Spec.Local.Path); err != nil {
		t.Fatal(err)
	}
	if err := setProjectQuota(pv.Spec.Local.Path, firstProjectID+999, 1<<20); err == nil {
		t.Skip("the temp dir's filesystem has project quotas")
	}
	if v := l.vols["pvc-u"]; v == nil || !v.Warned {
		t.Errorf("volume state %+v, want warned", v)
	}
}
