package agent

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"unsafe"

	"golang.org/x/sys/unix"
)

// On btrfs a local-path volume is a subvolume and its capacity is the
// max_rfer limit of the subvolume's qgroup (level 0, id = the
// subvolume's tree id). Qgroups are part of btrfs itself, so this works
// on kernels built without CONFIG_QUOTA, where project quotas cannot.
// The agent turns quotas on for the filesystem the first time it needs
// them, which starts a rescan of what is already there.

// Linux UAPI numbers and layouts (linux/btrfs.h, linux/btrfs_tree.h).
// Each ioctl number is _IOC(dir, 0x94, nr, sizeof(args)).
const (
	btrfsIOCSubvolCreate    = 0x5000940e // _IOW(0x94, 14, struct btrfs_ioctl_vol_args)
	btrfsIOCSnapDestroy     = 0x5000940f // _IOW(0x94, 15, struct btrfs_ioctl_vol_args)
	btrfsIOCInoLookup       = 0xd0009412 // _IOWR(0x94, 18, struct btrfs_ioctl_ino_lookup_args)
	btrfsIOCQuotaCtl        = 0xc0109428 // _IOWR(0x94, 40, struct btrfs_ioctl_quota_ctl_args)
	btrfsIOCQgroupCreate    = 0x4010942a // _IOW(0x94, 42, struct btrfs_ioctl_qgroup_create_args)
	btrfsIOCQgroupLimit     = 0x8030942b // _IOR(0x94, 43, struct btrfs_ioctl_qgroup_limit_args)
	btrfsIOCQuotaRescanWait = 0x0000942e // _IO(0x94, 46)

	btrfsQuotaCtlEnable     = 1
	btrfsQgroupLimitMaxRfer = 1 << 0
	// btrfsFirstFreeObjectID is the inode number of every subvolume's
	// root directory.
	btrfsFirstFreeObjectID = 256
	btrfsPathNameMax       = 4087
	btrfsInoLookupPathMax  = 4080
)

// btrfsVolArgs is struct btrfs_ioctl_vol_args (4096 bytes).
type btrfsVolArgs struct {
	FD   int64
	Name [btrfsPathNameMax + 1]byte
}

// btrfsInoLookupArgs is struct btrfs_ioctl_ino_lookup_args (4096 bytes).
type btrfsInoLookupArgs struct {
	TreeID   uint64
	ObjectID uint64
	Name     [btrfsInoLookupPathMax]byte
}

// btrfsQuotaCtlArgs is struct btrfs_ioctl_quota_ctl_args (16 bytes).
type btrfsQuotaCtlArgs struct {
	Cmd    uint64
	Status uint64
}

// btrfsQgroupCreateArgs is struct btrfs_ioctl_qgroup_create_args (16
// bytes).
type btrfsQgroupCreateArgs struct {
	Create   uint64
	QgroupID uint64
}

// btrfsQgroupLimitArgs is struct btrfs_ioctl_qgroup_limit_args, with
// struct btrfs_qgroup_limit inlined (48 bytes).
type btrfsQgroupLimitArgs struct {
	QgroupID uint64
	Flags    uint64
	MaxRfer  uint64
	MaxExcl  uint64
	RsvRfer  uint64
	RsvExcl  uint64
}

func btrfsIoctl(f *os.File, req uintptr, arg unsafe.Pointer) error {
	if _, _, e := unix.Syscall(unix.SYS_IOCTL, f.Fd(), req, uintptr(arg)); e != 0 {
		return e
	}
	return nil
}

// onBtrfs reports whether dir is on a btrfs filesystem.
func onBtrfs(dir string) bool {
	var st unix.Statfs_t
	return unix.Statfs(dir, &st) == nil && st.Type == unix.BTRFS_SUPER_MAGIC
}

// isSubvolume reports whether the open directory f is the root of a
// btrfs subvolume.
func isSubvolume(f *os.File) (bool, error) {
	var fs unix.Statfs_t
	if err := unix.Fstatfs(int(f.Fd()), &fs); err != nil {
		return false, err
	}
	if fs.Type != unix.BTRFS_SUPER_MAGIC {
		return false, nil
	}
	var st unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &st); err != nil {
		return false, err
	}
	return st.Ino == btrfsFirstFreeObjectID && st.Mode&unix.S_IFMT == unix.S_IFDIR, nil
}

// volArgs names an entry of the directory the ioctl is made on.
func volArgs(name string) (*btrfsVolArgs, error) {
	a := &btrfsVolArgs{}
	if name == "" || len(name) > btrfsPathNameMax || filepath.Base(name) != name {
		return nil, fmt.Errorf("bad subvolume name %q", name)
	}
	copy(a.Name[:], name)
	return a, nil
}

// createSubvolume creates subvolume name in the directory parent; it
// fails with EEXIST when something of that name is there.
func createSubvolume(parent, name string) error {
	return subvolumeIoctl(parent, name, btrfsIOCSubvolCreate, "create")
}

// destroySubvolume deletes subvolume name of the directory parent with
// whatever it holds (root may delete non-empty subvolumes); the space
// comes back once btrfs's cleaner has dropped its tree.
func destroySubvolume(parent, name string) error {
	return subvolumeIoctl(parent, name, btrfsIOCSnapDestroy, "delete")
}

// subvolumeIoctl runs req, which takes the vol args of name, on the
// directory parent.
func subvolumeIoctl(parent, name string, req uintptr, what string) error {
	a, err := volArgs(name)
	if err != nil {
		return err
	}
	f, err := os.Open(parent)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := btrfsIoctl(f, req, unsafe.Pointer(a)); err != nil {
		return fmt.Errorf("%s subvolume %s: %w", what, filepath.Join(parent, name), err)
	}
	return nil
}

// setSubvolumeLimit bounds what the subvolume at p refers to (its
// qgroup's max_rfer) to bytes, turning quotas on for the filesystem if
// they are off. A p that is no subvolume, or a filesystem whose quotas
// the agent may not turn on, is ErrQuotaUnsupported.
func setSubvolumeLimit(p string, bytes int64) error {
	f, err := os.Open(p)
	if err != nil {
		return err
	}
	defer f.Close()
	if sub, err := isSubvolume(f); err != nil {
		return fmt.Errorf("set subvolume limit: %w", err)
	} else if !sub {
		// A qgroup limit on a plain directory would bound the subvolume
		// around it: never.
		return fmt.Errorf("%w: %s is not a btrfs subvolume", ErrQuotaUnsupported, p)
	}
	args := btrfsQgroupLimitArgs{Flags: btrfsQgroupLimitMaxRfer, MaxRfer: uint64(bytes)} // qgroup 0: f's subvolume
	for attempt := 0; ; attempt++ {
		err := btrfsIoctl(f, btrfsIOCQgroupLimit, unsafe.Pointer(&args))
		switch {
		case err == nil:
			return nil
		case attempt > 0:
		case errors.Is(err, unix.ENOTCONN): // quotas are off
			if err := enableQuotas(f); err != nil {
				return err
			}
			continue
		case errors.Is(err, unix.ENOENT): // no qgroup for the subvolume (removed by hand)
			if err := createQgroup(f); err != nil {
				return err
			}
			continue
		}
		if errors.Is(err, unix.EPERM) || errors.Is(err, unix.ENOTTY) {
			return fmt.Errorf("%w: set btrfs qgroup limit: %v", ErrQuotaUnsupported, err)
		}
		return fmt.Errorf("set btrfs qgroup limit: %w", err)
	}
}

// enableQuotas turns quotas on for f's filesystem (a no-op when they
// are on) and waits for the rescan that accounts what is already there.
func enableQuotas(f *os.File) error {
	args := btrfsQuotaCtlArgs{Cmd: btrfsQuotaCtlEnable}
	if err := btrfsIoctl(f, btrfsIOCQuotaCtl, unsafe.Pointer(&args)); err != nil {
		if errors.Is(err, unix.EPERM) || errors.Is(err, unix.EINVAL) || errors.Is(err, unix.EOPNOTSUPP) {
			return fmt.Errorf("%w: enable btrfs quotas: %v", ErrQuotaUnsupported, err)
		}
		return fmt.Errorf("enable btrfs quotas: %w", err)
	}
	if err := btrfsIoctl(f, btrfsIOCQuotaRescanWait, nil); err != nil {
		return fmt.Errorf("wait for btrfs quota rescan: %w", err)
	}
	return nil
}

// createQgroup creates the level-0 qgroup of f's subvolume.
func createQgroup(f *os.File) error {
	lookup := btrfsInoLookupArgs{ObjectID: btrfsFirstFreeObjectID} // tree 0: f's own
	if err := btrfsIoctl(f, btrfsIOCInoLookup, unsafe.Pointer(&lookup)); err != nil {
		return fmt.Errorf("look up subvolume id: %w", err)
	}
	args := btrfsQgroupCreateArgs{Create: 1, QgroupID: lookup.TreeID}
	if err := btrfsIoctl(f, btrfsIOCQgroupCreate, unsafe.Pointer(&args)); err != nil && !errors.Is(err, unix.EEXIST) {
		return fmt.Errorf("create qgroup 0/%d: %w", lookup.TreeID, err)
	}
	return nil
}
