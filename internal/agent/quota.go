package agent

import (
	"errors"
	"fmt"
	"os"
	"syscall"
	"unsafe"
)

// Project quotas (ext4 with -O project and prjquota, xfs with prjquota)
// bound a directory tree's blocks whatever uid writes them: the
// directory gets a project id that its new files inherit (PROJINHERIT),
// and the filesystem's quota for that project is the volume's capacity.

// ErrQuotaUnsupported says that a directory's filesystem cannot enforce a
// project quota: no project ids, or project quotas not turned on.
var ErrQuotaUnsupported = errors.New("project quotas are not supported")

// Linux UAPI numbers (linux/fs.h, linux/quota.h, linux/dqblk_xfs.h).
const (
	fsIOCFSGetXAttr    = 0x801c581f // _IOR('X', 31, struct fsxattr)
	fsIOCFSSetXAttr    = 0x401c5820 // _IOW('X', 32, struct fsxattr)
	fsXFlagProjInherit = 0x00000200
	prjQuota           = 2
	qGetQuota          = 0x800007
	qSetQuota          = 0x800008
	qifBLimits         = 1
	sysQuotactlFD      = 443
	quotaBlockSize     = 1024 // if_dqblk block limits are in 1 KiB units
)

// fsxattr is struct fsxattr.
type fsxattr struct {
	XFlags     uint32
	ExtSize    uint32
	NExtents   uint32
	ProjID     uint32
	CowExtSize uint32
	Pad        [8]byte
}

// dqblk is struct if_dqblk.
type dqblk struct {
	BHardLimit uint64
	BSoftLimit uint64
	CurSpace   uint64
	IHardLimit uint64
	ISoftLimit uint64
	CurInodes  uint64
	BTime      uint64
	ITime      uint64
	Valid      uint32
	_          uint32
}

func ioctl(f *os.File, req uintptr, arg unsafe.Pointer) error {
	if _, _, e := syscall.Syscall(syscall.SYS_IOCTL, f.Fd(), req, uintptr(arg)); e != 0 {
		return e
	}
	return nil
}

func quotactl(f *os.File, cmd uint32, id uint32, q *dqblk) error {
	c := cmd<<8 | prjQuota
	if _, _, e := syscall.Syscall6(sysQuotactlFD, f.Fd(), uintptr(c), uintptr(id), uintptr(unsafe.Pointer(q)), 0, 0); e != 0 {
		return e
	}
	return nil
}

// unsupported maps the errnos of a filesystem without project quotas to
// ErrQuotaUnsupported.
func unsupported(op string, err error) error {
	var errno syscall.Errno
	if errors.As(err, &errno) {
		switch errno {
		case syscall.ENOTTY, syscall.EOPNOTSUPP, syscall.EINVAL, syscall.ENOSYS:
			return fmt.Errorf("%w: %s: %v", ErrQuotaUnsupported, op, err)
		case syscall.ESRCH:
			return fmt.Errorf("%w: %s: project quotas are not turned on for the filesystem (mount it with prjquota)", ErrQuotaUnsupported, op)
		}
	}
	return fmt.Errorf("%s: %w", op, err)
}

// projectUsed reports whether project id has any usage or limit on dir's
// filesystem, so that an id another tool gave out is not reused.
func projectUsed(dir string, id uint32) (bool, error) {
	f, err := os.Open(dir)
	if err != nil {
		return false, err
	}
	defer f.Close()
	var q dqblk
	if err := quotactl(f, qGetQuota, id, &q); err != nil {
		if errors.Is(err, syscall.ENOENT) {
			return false, nil
		}
		return false, unsupported("get project quota", err)
	}
	return q.CurSpace != 0 || q.CurInodes != 0 || q.BHardLimit != 0 || q.IHardLimit != 0, nil
}

// setProjectQuota gives dir project id (inherited by what is created
// in it) and limits the project to bytes (rounded up to 1 KiB); bytes 0
// removes the limit.
func setProjectQuota(dir string, id uint32, bytes int64) error {
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer f.Close()
	var x fsxattr
	if err := ioctl(f, fsIOCFSGetXAttr, unsafe.Pointer(&x)); err != nil {
		return unsupported("get project id", err)
	}
	if x.ProjID != id || x.XFlags&fsXFlagProjInherit == 0 {
		x.ProjID = id
		x.XFlags |= fsXFlagProjInherit
		if err := ioctl(f, fsIOCFSSetXAttr, unsafe.Pointer(&x)); err != nil {
			return unsupported("set project id", err)
		}
	}
	blocks := uint64((bytes + quotaBlockSize - 1) / quotaBlockSize)
	q := dqblk{BHardLimit: blocks, BSoftLimit: blocks, Valid: qifBLimits}
	if err := quotactl(f, qSetQuota, id, &q); err != nil {
		return unsupported("set project quota", err)
	}
	return nil
}

// projectUsage is the bytes project id uses on dir's filesystem.
func projectUsage(dir string, id uint32) (int64, error) {
	f, err := os.Open(dir)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	var q dqblk
	if err := quotactl(f, qGetQuota, id, &q); err != nil {
		return 0, unsupported("get project quota", err)
	}
	return int64(q.CurSpace), nil
}
