//go:build linux

package procmem

import (
	"os"
	"strconv"
	"strings"
	"testing"
)

func rssFileKiB(t *testing.T) int64 {
	t.Helper()
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "RssFile:"); ok {
			n, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
	}
	t.Fatal("no RssFile in /proc/self/status")
	return 0
}

func TestReleaseStartupPages(t *testing.T) {
	before := rssFileKiB(t)
	released, err := ReleaseStartupPages()
	if err != nil {
		t.Fatal(err)
	}
	after := rssFileKiB(t)
	t.Logf("RssFile %d KiB -> %d KiB; released %d KiB", before, after, released>>10)
	if released <= 0 {
		t.Fatalf("released %d bytes of the test binary's pages, want some", released)
	}
	if after >= before {
		t.Fatalf("RssFile did not drop: %d KiB -> %d KiB", before, after)
	}
	// The code and data keep working: they fault back in from the file.
	var sb strings.Builder
	for i := range 1000 {
		sb.WriteString(strconv.Itoa(i))
	}
	if got := len(sb.String()); got != 2890 {
		t.Fatalf("len = %d after release, want 2890", got)
	}
}

func TestReadSmaps(t *testing.T) {
	maps, err := readSmaps("/proc/self/smaps")
	if err != nil {
		t.Fatal(err)
	}
	var exe, rss bool
	for _, m := range maps {
		if m.end <= m.start {
			t.Fatalf("mapping %x-%x is empty", m.start, m.end)
		}
		if m.inode != 0 {
			exe = true
		}
		if m.rss > 0 {
			rss = true
		}
	}
	if !exe || !rss {
		t.Fatalf("parsed %d mappings, file-backed %v, any resident %v", len(maps), exe, rss)
	}
}
