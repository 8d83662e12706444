package audit

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// backupTime is the time in a rotated file's name, as lumberjack's
// (audit-2006-01-02T15-04-05.000.log), so tools that expect upstream's
// backup names find them.
const backupTime = "2006-01-02T15-04-05.000"

// rotator is a file that is renamed aside when a write would take it past
// maxSize, synchronously and with no goroutine of its own. It is not safe
// for concurrent use; Log serializes writes.
type rotator struct {
	path       string
	maxSize    int64
	maxBackups int
	maxAge     time.Duration
	now        func() time.Time

	f    *os.File
	size int64
}

func openRotator(path string, maxSize int64, maxBackups int, maxAge time.Duration) (*rotator, error) {
	r := &rotator{path: path, maxSize: maxSize, maxBackups: maxBackups, maxAge: maxAge, now: time.Now}
	if err := r.open(); err != nil {
		return nil, err
	}
	return r, nil
}

func (r *rotator) open() error {
	f, err := os.OpenFile(r.path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return err
	}
	r.f, r.size = f, fi.Size()
	return nil
}

func (r *rotator) Write(p []byte) (int, error) {
	if r.f == nil {
		return 0, os.ErrClosed
	}
	if r.size > 0 && r.size+int64(len(p)) > r.maxSize {
		if err := r.rotate(); err != nil {
			return 0, fmt.Errorf("rotate: %w", err)
		}
	}
	n, err := r.f.Write(p)
	r.size += int64(n)
	return n, err
}

// rotate renames the file aside, opens a new one and removes the backups
// past maxBackups or maxAge.
func (r *rotator) rotate() error {
	if err := r.f.Close(); err != nil {
		return err
	}
	r.f = nil
	dir, prefix, ext := r.parts()
	stamp := r.now().UTC().Format(backupTime)
	backup := filepath.Join(dir, prefix+stamp+ext)
	for i := 1; fileExists(backup); i++ {
		backup = filepath.Join(dir, fmt.Sprintf("%s%s.%d%s", prefix, stamp, i, ext))
	}
	if err := os.Rename(r.path, backup); err != nil {
		return err
	}
	if err := r.open(); err != nil {
		return err
	}
	return r.prune()
}

// parts splits the path into its folder, the backups' name prefix
// ("audit-") and the extension (".log").
func (r *rotator) parts() (dir, prefix, ext string) {
	dir, base := filepath.Split(r.path)
	ext = filepath.Ext(base)
	return dir, strings.TrimSuffix(base, ext) + "-", ext
}

func (r *rotator) prune() error {
	if r.maxBackups == 0 && r.maxAge == 0 {
		return nil
	}
	dir, prefix, ext := r.parts()
	entries, err := os.ReadDir(filepath.Clean(dir))
	if err != nil {
		return err
	}
	var backups []string
	for _, e := range entries {
		name := e.Name()
		stamp, ok := strings.CutPrefix(name, prefix)
		if !ok || e.IsDir() || !strings.HasSuffix(stamp, ext) || len(stamp) < len(backupTime) {
			continue
		}
		// Only our backups: the stamp parses (a ".N" may follow it).
		if _, err := time.Parse(backupTime, stamp[:len(backupTime)]); err == nil {
			backups = append(backups, name)
		}
	}
	// Newest first: the timestamps sort as strings.
	slices.Sort(backups)
	slices.Reverse(backups)
	cutoff := r.now().Add(-r.maxAge)
	for i, name := range backups {
		old := r.maxBackups > 0 && i >= r.maxBackups
		if !old && r.maxAge > 0 {
			if fi, err := os.Stat(filepath.Join(dir, name)); err == nil && fi.ModTime().Before(cutoff) {
				old = true
			}
		}
		if old {
			if err := os.Remove(filepath.Join(dir, name)); err != nil && !os.IsNotExist(err) {
				return err
			}
		}
	}
	return nil
}

func (r *rotator) Close() error {
	if r.f == nil {
		return nil
	}
	err := r.f.Close()
	r.f = nil
	return err
}

func fileExists(path string) bool {
	_, err := os.Lstat(path)
	return err == nil
}
