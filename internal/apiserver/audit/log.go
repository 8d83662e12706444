package audit

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// LogConfig configures a Log.
type LogConfig struct {
	// Path is the log file; "-" writes to standard output.
	Path string
	// MaxSizeMB is the size in megabytes (MiB) at which the file is
	// rotated (default 100, as upstream's).
	MaxSizeMB int
	// MaxBackups is how many rotated files are kept; 0 keeps all.
	MaxBackups int
	// MaxAgeDays removes rotated files older than this many days; 0 keeps
	// them whatever their age.
	MaxAgeDays int
}

func (c *LogConfig) validate() error {
	switch {
	case c.Path == "":
		return errors.New("audit log: path is required")
	case c.MaxSizeMB < 0 || c.MaxBackups < 0 || c.MaxAgeDays < 0:
		return errors.New("audit log: maxsize, maxbackup and maxage must not be negative")
	}
	return nil
}

// Log writes events as JSON lines, rotating its file by size.
type Log struct {
	mu  sync.Mutex
	w   io.Writer
	c   io.Closer
	buf []byte
}

// NewLog opens the log cfg describes.
func NewLog(cfg LogConfig) (*Log, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if cfg.Path == "-" {
		return &Log{w: os.Stdout}, nil
	}
	if cfg.MaxSizeMB == 0 {
		cfg.MaxSizeMB = 100
	}
	if err := os.MkdirAll(filepath.Dir(cfg.Path), 0o700); err != nil {
		return nil, fmt.Errorf("audit log: %w", err)
	}
	rot, err := openRotator(cfg.Path, int64(cfg.MaxSizeMB)<<20, cfg.MaxBackups, time.Duration(cfg.MaxAgeDays)*24*time.Hour)
	if err != nil {
		return nil, fmt.Errorf("audit log: %w", err)
	}
	return &Log{w: rot, c: rot}, nil
}

// Write appends ev as one line. It is safe for concurrent use.
func (l *Log) Write(ev *Event) error {
	b, err := json.Marshal(ev)
	if err != nil {
		return fmt.Errorf("audit log: encode event: %w", err)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf = append(append(l.buf[:0], b...), '\n')
	if _, err := l.w.Write(l.buf); err != nil {
		return fmt.Errorf("audit log: %w", err)
	}
	return nil
}

// Close closes the file.
func (l *Log) Close() error {
	if l.c == nil {
		return nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.c.Close()
}
