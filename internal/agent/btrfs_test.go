package agent

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/tools/cache"
)

// TestBtrfsLayouts checks the hand-laid ioctl structs against the sizes
// in linux/btrfs.h, which the ioctl numbers encode.
func TestBtrfsLayouts(t *testing.T) {
	tests := []struct {
		name string
		got  uintptr
		want uintptr
	}{
		{"btrfs_ioctl_vol_args", unsafe.Sizeof(btrfsVolArgs{}), 4096},
		{"btrfs_ioctl_ino_lookup_args", unsafe.Sizeof(btrfsInoLookupArgs{}), 4096},
		{"btrfs_ioctl_quota_ctl_args", unsafe.Sizeof(btrfsQuotaCtlArgs{}), 16},
		{"btrfs_ioctl_qgroup_create_args", unsafe.Sizeof(btrfsQgroupCreateArgs{}), 16},
		{"btrfs_ioctl_qgroup_limit_args", unsafe.Sizeof(btrfsQgroupLimitArgs{}), 48},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.got != tt.want {
				t.Errorf("size %d, want %d", tt.got, tt.want)
			}
		})
	}
	// The size field of each number (bits 16-29) is its struct's.
	nums := []struct {
		name string
		req  uintptr
		size uintptr
	}{
		{"BTRFS_IOC_SUBVOL_CREATE", btrfsIOCSubvolCreate, 4096},
		{"BTRFS_IOC_SNAP_DESTROY", btrfsIOCSnapDestroy, 4096},
		{"BTRFS_IOC_INO_LOOKUP", btrfsIOCInoLookup, 4096},
		{"BTRFS_IOC_QUOTA_CTL", btrfsIOCQuotaCtl, 16},
		{"BTRFS_IOC_QGROUP_CREATE", btrfsIOCQgroupCreate, 16},
		{"BTRFS_IOC_QGROUP_LIMIT", btrfsIOCQgroupLimit, 48},
		{"BTRFS_IOC_QUOTA_RESCAN_WAIT", btrfsIOCQuotaRescanWait, 0},
	}
	for _, n := range nums {
		if got := n.req >> 16 & 0x3fff; got != n.size {
			t.Errorf("%s encodes size %d, want %d", n.name, got, n.size)
		}
	}
}

// btrfsFS mounts a fresh 300 MiB btrfs image (see loopFS).
func btrfsFS(t *testing.T) string {
	t.Helper()
	return loopFS(t, "btrfs", 300<<20, []string{"mkfs.btrfs", "-q", "-f"}, "", "btrfs-progs")
}

// syncFS commits dir's filesystem, so that btrfs accounts what was
// written or removed in its qgroups.
func syncFS(t *testing.T, dir string) {
	t.Helper()
	f, err := os.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := unix.Syncfs(int(f.Fd())); err != nil {
		t.Fatal(err)
	}
}

// listThenWatch is a ListWatch that the reflector lists first: a fake
// watch never sends the bookmark that ends a streamed list.
type listThenWatch struct{ *cache.ListWatch }

func (listThenWatch) IsWatchListSemanticsUnSupported() bool { return true }

// syncedInformer is a running PV informer over an empty list, so that a
// sweep sees every recorded volume's PV gone.
func syncedInformer(t *testing.T) cache.SharedIndexInformer {
	t.Helper()
	inf := cache.NewSharedIndexInformer(listThenWatch{&cache.ListWatch{
		ListWithContextFunc: func(context.Context, metav1.ListOptions) (runtime.Object, error) {
			return &corev1.PersistentVolumeList{}, nil
		},
		WatchFuncWithContext: func(context.Context, metav1.ListOptions) (watch.Interface, error) {
			return watch.NewFake(), nil
		},
	}}, &corev1.PersistentVolume{}, 0, cache.Indexers{})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); inf.RunWithContext(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	if !cache.WaitForCacheSync(ctx.Done(), inf.HasSynced) {
		t.Fatal("informer did not sync")
	}
	return inf
}

// TestBtrfsQgroup makes a 1 MiB local-path volume on btrfs: it is a
// subvolume whose qgroup limit makes a 4 MiB write fail with EDQUOT;
// raising the PV's capacity to 8 MiB lets the write through; a second
// volume is bounded too; once the PVs are gone the sweep deletes the
// subvolumes with what others wrote in them.
func TestBtrfsQgroup(t *testing.T) {
	storage := filepath.Join(btrfsFS(t), "storage")
	if err := os.Mkdir(storage, 0o711); err != nil {
		t.Fatal(err)
	}
	l := &localPaths{dir: storage, node: "n1", log: slog.New(slog.DiscardHandler), vols: map[string]*lpVolume{}}
	pv := &corev1.PersistentVolume{
		ObjectMeta: metav1.ObjectMeta{Name: "pvc-b"},
		Spec: corev1.PersistentVolumeSpec{
			Capacity:               corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Mi")},
			PersistentVolumeSource: corev1.PersistentVolumeSource{Local: &corev1.LocalVolumeSource{Path: filepath.Join(storage, "pvc-b")}},
		},
	}
	ctx := context.Background()
	if err := l.ensure(ctx, pv); err != nil {
		t.Fatalf("ensure: %v", err)
	}
	dir := pv.Spec.Local.Path
	if v := l.vols["pvc-b"]; v == nil || !v.Subvolume || v.Warned || v.QuotaBytes != 1<<20 || v.ProjectID != 0 {
		t.Fatalf("volume state %+v, want a subvolume with a 1 MiB limit", v)
	}
	f, err := os.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	sub, err := isSubvolume(f)
	f.Close()
	if err != nil || !sub {
		t.Fatalf("%s is a subvolume: %v, %v", dir, sub, err)
	}
	if st, err := os.Stat(dir); err != nil || st.Mode().Perm() != 0o777 {
		t.Fatalf("volume directory mode: %v, %v; want 0777", st.Mode(), err)
	}

	big := filepath.Join(dir, "big")
	if err := write(big, 4<<20); !errors.Is(err, syscall.EDQUOT) {
		t.Fatalf("4 MiB write into a 1 MiB volume: %v, want EDQUOT", err)
	}
	if err := os.Remove(big); err != nil {
		t.Fatal(err)
	}
	syncFS(t, dir)

	pv.Spec.Capacity[corev1.ResourceStorage] = resource.MustParse("8Mi")
	if err := l.ensure(ctx, pv); err != nil {
		t.Fatalf("ensure after growth: %v", err)
	}
	if v := l.vols["pvc-b"]; v.QuotaBytes != 8<<20 {
		t.Fatalf("volume state %+v, want an 8 MiB limit", v)
	}
	if err := write(big, 4<<20); err != nil {
		t.Fatalf("4 MiB write into an 8 MiB volume: %v", err)
	}
	// A file of a pod's user, in a directory of its own, goes with the
	// subvolume.
	if err := os.MkdirAll(filepath.Join(dir, "a", "b"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := write(filepath.Join(dir, "a", "b", "small"), 4096); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{filepath.Join(dir, "a"), filepath.Join(dir, "a", "b"), filepath.Join(dir, "a", "b", "small")} {
		if err := os.Chown(p, 65534, 65534); err != nil {
			t.Fatal(err)
		}
	}

	// A second volume finds quotas on.
	second := pv.DeepCopy()
	second.Name, second.Spec.Local.Path = "pvc-c", filepath.Join(storage, "pvc-c")
	second.Spec.Capacity[corev1.ResourceStorage] = resource.MustParse("1Mi")
	if err := l.ensure(ctx, second); err != nil {
		t.Fatalf("ensure a second volume: %v", err)
	}
	if err := write(filepath.Join(second.Spec.Local.Path, "big"), 4<<20); !errors.Is(err, syscall.EDQUOT) {
		t.Fatalf("4 MiB write into the second, 1 MiB volume: %v, want EDQUOT", err)
	}

	l.informer = syncedInformer(t)
	if err := l.sweep(); err != nil {
		t.Fatalf("sweep: %v", err)
	}
	for _, name := range []string{"pvc-b", "pvc-c"} {
		if _, err := os.Lstat(filepath.Join(storage, name)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("the deleted PV's subvolume %s is still there: %v", name, err)
		}
		if v, ok := l.vols[name]; ok {
			t.Errorf("the deleted PV's volume %s is still recorded: %+v", name, v)
		}
	}
}
