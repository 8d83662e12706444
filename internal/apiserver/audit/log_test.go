package audit

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/types"
)

// TestLogRotates writes past one megabyte with a 1 MB limit: the log rotates
// into a backup, every event is kept as one JSON line, and only MaxBackups
// backups remain.
func TestLogRotates(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "audit.log")
	l, err := NewLog(LogConfig{Path: path, MaxSizeMB: 1, MaxBackups: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	ev := &Event{Level: LevelMetadata, Stage: StageResponseComplete, Verb: "get",
		Annotations: map[string]string{"pad": strings.Repeat("x", 10<<10)}}
	const n = 250 // about 2.5 MB in all: two rotations
	for i := range n {
		ev.AuditID = types.UID(fmt.Sprintf("id-%03d", i))
		if err := l.Write(ev); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var backups []string
	for _, e := range entries {
		if e.Name() != "audit.log" {
			backups = append(backups, e.Name())
		}
	}
	if len(backups) != 1 {
		t.Fatalf("files beside the log = %v, want one backup (MaxBackups 1)", backups)
	}
	for _, name := range []string{"audit.log", backups[0]} {
		fi, err := os.Stat(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Size() > 1<<20 {
			t.Errorf("%s is %d bytes, over the 1 MB limit", name, fi.Size())
		}
		f, err := os.Open(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(f)
		sc.Buffer(nil, 1<<20)
		lines := 0
		for sc.Scan() {
			var got Event
			if err := json.Unmarshal(sc.Bytes(), &got); err != nil {
				t.Errorf("%s line %d: %v", name, lines+1, err)
			}
			lines++
		}
		f.Close()
		if lines == 0 {
			t.Errorf("%s has no events", name)
		}
	}
	// The newest event is in the current file.
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), `"auditID":"id-249"`) {
		t.Errorf("current log lacks the last event")
	}
}

func TestLogConfigErrors(t *testing.T) {
	for _, cfg := range []LogConfig{{}, {Path: "x", MaxSizeMB: -1}} {
		if _, err := NewLog(cfg); err == nil {
			t.Errorf("NewLog(%+v) accepted", cfg)
		}
	}
}
