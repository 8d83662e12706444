//go:build linux

package procmem

import (
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
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

func TestCgroupLimitFiles(t *testing.T) {
	tests := []struct {
		name, cgroup string
		want         []string
	}{
		{"unified", "0::/system.slice/skiff.service\n", []string{"/sys/fs/cgroup/system.slice/skiff.service/memory.max"}},
		{"hybrid", "5:cpu,cpuacct:/\n4:memory:/lab/box\n0::/\n", []string{"/sys/fs/cgroup/memory/lab/box/memory.limit_in_bytes", "/sys/fs/cgroup/memory.max"}},
		{"none", "", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, cgroupLimitFiles(tt.cgroup)); diff != "" {
				t.Errorf("cgroupLimitFiles (-want +got):\n%s", diff)
			}
		})
	}
}

func TestPhysicalMemory(t *testing.T) {
	if got := physicalMemory(); got == 0 {
		t.Fatal("physicalMemory: 0")
	}
}
