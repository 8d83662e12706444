package agent

import (
	"io/fs"
	"os"
	"path/filepath"
	"syscall"

	corev1 "k8s.io/api/core/v1"
)

// Modes a pod's fsGroup adds to the files of its volumes, as upstream's
// volume ownership management does: group read (and write, for writable
// volumes), and on directories group search and setgid, so that files the
// containers create there belong to the group too.
const (
	fsGroupRW   = os.FileMode(0o660)
	fsGroupRO   = os.FileMode(0o440)
	fsGroupExec = os.FileMode(0o110)
)

// setVolumeOwnership gives everything under dir to the pod's fsGroup (owner
// unchanged) and adds the group's permissions. Symlinks are left alone,
// not followed. With fsGroupChangePolicy OnRootMismatch, a volume whose
// root already has the group and setgid is not walked.
func setVolumeOwnership(dir string, sc *corev1.PodSecurityContext, readOnly bool) error {
	if sc == nil || sc.FSGroup == nil {
		return nil
	}
	gid := int(*sc.FSGroup)
	if sc.FSGroupChangePolicy != nil && *sc.FSGroupChangePolicy == corev1.FSGroupChangeOnRootMismatch && ownedByGroup(dir, gid) {
		return nil
	}
	mask := fsGroupRW
	if readOnly {
		mask = fsGroupRO
	}
	return filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type()&fs.ModeSymlink != 0 {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		if err := os.Lchown(p, -1, gid); err != nil {
			return err
		}
		m := mask
		if info.IsDir() {
			m |= os.ModeSetgid | fsGroupExec
		}
		return os.Chmod(p, info.Mode()|m)
	})
}

// ownedByGroup reports whether dir has group gid and the setgid bit.
func ownedByGroup(dir string, gid int) bool {
	info, err := os.Stat(dir)
	if err != nil {
		return false
	}
	return info.Mode()&os.ModeSetgid != 0 && fileGID(info) == gid
}

// fileGID is the group of a file, or -1 when the platform does not say.
func fileGID(info fs.FileInfo) int {
	if st, ok := info.Sys().(*syscall.Stat_t); ok {
		return int(st.Gid)
	}
	return -1
}
