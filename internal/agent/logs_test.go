package agent

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestParseCRILogLine(t *testing.T) {
	ts := time.Date(2026, 11, 26, 14, 0, 0, 123456789, time.UTC)
	tests := []struct {
		name    string
		line    string
		want    LogLine
		wantErr bool
	}{
		{name: "full", line: "2026-11-26T14:00:00.123456789Z stdout F hello world", want: LogLine{Time: ts, Stream: "stdout", Message: []byte("hello world")}},
		{name: "partial stderr", line: "2026-11-26T14:00:00.123456789Z stderr P abc", want: LogLine{Time: ts, Stream: "stderr", Partial: true, Message: []byte("abc")}},
		{name: "empty message", line: "2026-11-26T14:00:00.123456789Z stdout F", want: LogLine{Time: ts, Stream: "stdout"}},
		{name: "message with spaces kept", line: "2026-11-26T14:00:00.123456789Z stdout F  a  b ", want: LogLine{Time: ts, Stream: "stdout", Message: []byte(" a  b ")}},
		{name: "bad time", line: "yesterday stdout F x", wantErr: true},
		{name: "bad stream", line: "2026-11-26T14:00:00.123456789Z stdin F x", wantErr: true},
		{name: "bad tag", line: "2026-11-26T14:00:00.123456789Z stdout X x", wantErr: true},
		{name: "no fields", line: "garbage", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseCRILogLine([]byte(tt.line))
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tt.wantErr)
			}
			if tt.wantErr {
				return
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestCopyLogs(t *testing.T) {
	dir := t.TempDir()
	content := "2026-11-26T14:00:01Z stdout F one\n" +
		"2026-11-26T14:00:02Z stderr F two\n" +
		"2026-11-26T14:00:03Z stdout P thr\n" +
		"2026-11-26T14:00:03Z stdout F ee\n" +
		"2026-11-26T14:00:04Z stdout F four\n" +
		"2026-11-26T14:00:05Z stdout F five"
	if err := os.MkdirAll(filepath.Join(dir, "c"), 0o755); err != nil {
		t.Fatal(err)
	}
	for name, body := range map[string]string{"0.log": "2026-11-26T13:00:00Z stdout F old\n", "1.log": content} {
		if err := os.WriteFile(filepath.Join(dir, "c", name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name     string
		opts     LogOptions
		previous bool
		want     string
	}{
		{name: "all", opts: LogOptions{TailLines: -1}, want: "one\ntwo\nthree\nfour\n"},
		{name: "tail 2 joins partial", opts: LogOptions{TailLines: 2}, want: "three\nfour\n"},
		{name: "tail 0", opts: LogOptions{TailLines: 0}, want: ""},
		{name: "since", opts: LogOptions{TailLines: -1, Since: time.Date(2026, 11, 26, 14, 0, 2, 0, time.UTC)}, want: "two\nthree\nfour\n"},
		{name: "timestamps", opts: LogOptions{TailLines: 1, Timestamps: true}, want: "2026-11-26T14:00:04Z four\n"},
		{name: "limit bytes", opts: LogOptions{TailLines: -1, LimitBytes: 6}, want: "one\ntw"},
		{name: "previous", opts: LogOptions{TailLines: -1}, previous: true, want: "old\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path, err := containerLogFile(dir, "c", tt.previous)
			if err != nil {
				t.Fatal(err)
			}
			var buf bytes.Buffer
			if err := copyLogs(context.Background(), &buf, path, tt.opts, time.Millisecond, nil); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, buf.String()); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}
