package agent

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"
)

// LogLine is one line of a CRI container log file.
type LogLine struct {
	Time time.Time
	// Stream is "stdout" or "stderr".
	Stream string
	// Partial is set for the "P" tag: the runtime split a long line and
	// the next record continues it.
	Partial bool
	Message []byte
}

// ParseCRILogLine parses one line in the CRI log format
// "2006-01-02T15:04:05.999999999Z07:00 stdout F message" (without its
// trailing newline).
func ParseCRILogLine(line []byte) (LogLine, error) {
	var l LogLine
	ts, rest, ok := bytes.Cut(line, []byte{' '})
	if !ok {
		return l, fmt.Errorf("parse log line: no timestamp in %q", line)
	}
	t, err := time.Parse(time.RFC3339Nano, string(ts))
	if err != nil {
		return l, fmt.Errorf("parse log line: %w", err)
	}
	stream, rest, ok := bytes.Cut(rest, []byte{' '})
	if !ok || (string(stream) != "stdout" && string(stream) != "stderr") {
		return l, fmt.Errorf("parse log line: bad stream in %q", line)
	}
	tag, msg, ok := bytes.Cut(rest, []byte{' '})
	if !ok {
		// An empty message may come without the separating space.
		tag, msg = rest, nil
	}
	switch string(tag) {
	case "F":
	case "P":
		l.Partial = true
	default:
		return l, fmt.Errorf("parse log line: bad tag %q", tag)
	}
	l.Time, l.Stream, l.Message = t, string(stream), msg
	return l, nil
}

// LogOptions select and shape what a container log request returns, as
// the query of /containerLogs (and of pods/log) says.
type LogOptions struct {
	Follow     bool
	Timestamps bool
	// TailLines, when >= 0, keeps only that many last lines; -1 keeps all.
	TailLines int64
	// Since drops lines older than it when not zero.
	Since time.Time
	// LimitBytes, when > 0, stops after that many bytes.
	LimitBytes int64
}

// formatLogLine renders a parsed line the way kubectl shows it.
func formatLogLine(l LogLine, timestamps bool) []byte {
	var b []byte
	if timestamps {
		b = append(b, l.Time.UTC().Format(time.RFC3339Nano)...)
		b = append(b, ' ')
	}
	b = append(b, l.Message...)
	if !l.Partial {
		b = append(b, '\n')
	}
	return b
}

// tailStart returns the index from which the last n full lines of lines
// start; partial records belong to the line that follows them.
func tailStart(lines []LogLine, n int64) int {
	if n < 0 {
		return 0
	}
	i := len(lines)
	for count := int64(0); i > 0; {
		if !lines[i-1].Partial {
			if count == n {
				break
			}
			count++
		}
		i--
	}
	return i
}

// ErrNoLog is returned when the requested log file does not exist.
var ErrNoLog = errors.New("log file not found")

// containerLogFile picks the log file of a container's current run, or of
// the run before it when previous is set: <dir>/<container>/<attempt>.log.
func containerLogFile(dir, container string, previous bool) (string, error) {
	entries, err := os.ReadDir(filepath.Join(dir, container))
	if err != nil {
		return "", fmt.Errorf("read log dir: %w", ErrNoLog)
	}
	var attempts []int
	for _, e := range entries {
		n, err := strconv.Atoi(strings.TrimSuffix(e.Name(), ".log"))
		if err == nil && strings.HasSuffix(e.Name(), ".log") {
			attempts = append(attempts, n)
		}
	}
	sort.Ints(attempts)
	idx := len(attempts) - 1
	if previous {
		idx--
	}
	if idx < 0 {
		return "", fmt.Errorf("container log: %w", ErrNoLog)
	}
	return filepath.Join(dir, container, strconv.Itoa(attempts[idx])+".log"), nil
}

// copyLogs writes the lines of a CRI log file to w as opts say. When
// following it keeps reading as the file grows, every poll, until ctx is
// done or done reports true (the container has stopped).
func copyLogs(ctx context.Context, w io.Writer, path string, opts LogOptions, poll time.Duration, done func() bool) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("open log: %w", err)
	}
	defer f.Close()
	written := int64(0)
	emit := func(l LogLine) (bool, error) {
		if !opts.Since.IsZero() && l.Time.Before(opts.Since) {
			return true, nil
		}
		b := formatLogLine(l, opts.Timestamps)
		if opts.LimitBytes > 0 && written+int64(len(b)) > opts.LimitBytes {
			b = b[:opts.LimitBytes-written]
		}
		n, err := w.Write(b)
		written += int64(n)
		if err != nil {
			return false, err
		}
		if fl, ok := w.(interface{ Flush() }); ok {
			fl.Flush()
		}
		return opts.LimitBytes <= 0 || written < opts.LimitBytes, nil
	}
	r := bufio.NewReader(f)
	// The existing content first, so that tail can see the whole of it.
	var lines []LogLine
	var pending []byte
	readAvailable := func() error {
		for {
			chunk, err := r.ReadBytes('\n')
			pending = append(pending, chunk...)
			if err == io.EOF {
				return nil
			}
			if err != nil {
				return err
			}
			l, perr := ParseCRILogLine(bytes.TrimSuffix(pending, []byte{'\n'}))
			pending = pending[:0]
			if perr == nil {
				l.Message = bytes.Clone(l.Message)
				lines = append(lines, l)
			}
		}
	}
	if err := readAvailable(); err != nil {
		return fmt.Errorf("read log: %w", err)
	}
	for _, l := range lines[tailStart(lines, opts.TailLines):] {
		more, err := emit(l)
		if err != nil || !more {
			return err
		}
	}
	if !opts.Follow {
		return nil
	}
	t := time.NewTicker(poll)
	defer t.Stop()
	for {
		stopped := done != nil && done()
		lines = lines[:0]
		if err := readAvailable(); err != nil {
			return fmt.Errorf("read log: %w", err)
		}
		for _, l := range lines {
			more, err := emit(l)
			if err != nil || !more {
				return err
			}
		}
		if stopped {
			return nil
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}
