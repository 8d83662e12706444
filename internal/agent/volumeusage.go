package agent

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"

	corev1 "k8s.io/api/core/v1"
)

// watchUsage measures the unenforced volumes every l.usageEvery until
// ctx is done.
func (l *localPaths) watchUsage(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-l.clock.After(l.usageEvery):
		}
		if err := l.checkUsage(); err != nil {
			l.log.Warn("local-path volume usage", "err", err)
		}
	}
}

// usageCheck is one volume to measure.
type usageCheck struct {
	pv       *corev1.PersistentVolume
	path     string
	capacity int64
}

// checkUsage measures each volume whose capacity is not enforced and
// warns its claim each time it goes from within its capacity to over it.
func (l *localPaths) checkUsage() error {
	l.mu.Lock()
	var checks []usageCheck
	for name, v := range l.vols {
		if !v.Warned {
			continue
		}
		obj, ok, _ := l.informer.GetStore().GetByKey(name)
		if !ok {
			continue
		}
		pv := obj.(*corev1.PersistentVolume)
		p, own := l.ownPath(pv)
		size := pv.Spec.Capacity[corev1.ResourceStorage]
		if own && size.Value() > 0 {
			checks = append(checks, usageCheck{pv: pv, path: p, capacity: size.Value()})
		}
	}
	l.mu.Unlock()

	// Measured without the lock: a walk may take a while, and mounts
	// wait on it.
	var errs []error
	changed := false
	for _, c := range checks {
		used, err := dirUsage(c.path, c.capacity)
		if errors.Is(err, fs.ErrNotExist) {
			continue // removed meanwhile
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("volume %s: %w", c.pv.Name, err))
			continue
		}
		over := used > c.capacity
		l.mu.Lock()
		if v := l.vols[c.pv.Name]; v != nil && v.Over != over {
			v.Over, changed = over, true
			if over {
				l.warnExceeded(c, used)
			}
		}
		l.mu.Unlock()
	}
	if changed {
		l.mu.Lock()
		errs = append(errs, l.save())
		l.mu.Unlock()
	}
	return errors.Join(errs...)
}

// warnExceeded tells c's claim that its volume uses more than its
// capacity.
func (l *localPaths) warnExceeded(c usageCheck, used int64) {
	l.log.Info("local-path volume over capacity", "volume", c.pv.Name, "used", used, "capacity", c.capacity)
	ref := c.pv.Spec.ClaimRef
	if l.recorder == nil || ref == nil {
		return
	}
	claim := &corev1.ObjectReference{Kind: "PersistentVolumeClaim", APIVersion: "v1", Namespace: ref.Namespace, Name: ref.Name, UID: ref.UID}
	size := c.pv.Spec.Capacity[corev1.ResourceStorage]
	l.recorder.Eventf(claim, corev1.EventTypeWarning, EventVolumeCapacityExceeded,
		"volume %s uses %s of its %s capacity; the filesystem at %s cannot enforce it",
		c.pv.Name, humanBytes(used), size.String(), l.dir)
}

// humanBytes is n in binary units with one decimal ("2.0Mi"), as
// quantities print, or plain bytes below 1 KiB.
func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit && exp < 5; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f%ci", float64(n)/float64(div), "KMGTPE"[exp])
}

// dirUsage is the space the files under dir take on disk (allocated
// blocks, each inode once, not crossing into other filesystems); it
// stops counting once past limit, so a volume far over its capacity
// costs no more than one at it.
func dirUsage(dir string, limit int64) (int64, error) {
	root, err := os.Lstat(dir)
	if err != nil {
		return 0, err
	}
	dev := root.Sys().(*syscall.Stat_t).Dev
	type inode struct{ dev, ino uint64 }
	seen := map[inode]bool{}
	var used int64
	err = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) && p != dir {
				return nil // removed while walking
			}
			return err
		}
		info, err := d.Info()
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if err != nil {
			return err
		}
		st := info.Sys().(*syscall.Stat_t)
		if st.Dev != dev {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if st.Nlink > 1 && !d.IsDir() {
			k := inode{st.Dev, st.Ino}
			if seen[k] {
				return nil
			}
			seen[k] = true
		}
		used += st.Blocks * 512
		if used > limit {
			return filepath.SkipAll
		}
		return nil
	})
	return used, err
}
