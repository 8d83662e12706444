//go:build linux

package procmem

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// ReleaseStartupPages drops this process's mappings of its own executable's
// read-only segments (code and read-only data) and reports how many bytes
// were resident in them. Only mappings that hold no private copy of a page
// are touched, so nothing is lost: each page comes back from the file when
// it is next used.
func ReleaseStartupPages() (int64, error) {
	var st syscall.Stat_t
	if err := syscall.Stat("/proc/self/exe", &st); err != nil {
		return 0, fmt.Errorf("stat executable: %w", err)
	}
	maps, err := readSmaps("/proc/self/smaps")
	if err != nil {
		return 0, err
	}
	var released int64
	for _, m := range maps {
		if m.inode != st.Ino || strings.Contains(m.perms, "w") || m.anonymous != 0 {
			continue
		}
		if _, _, errno := unix.Syscall(unix.SYS_MADVISE, m.start, m.end-m.start, unix.MADV_DONTNEED); errno != 0 {
			return released, fmt.Errorf("madvise %x-%x: %w", m.start, m.end, errno)
		}
		released += m.rss
	}
	return released, nil
}

type mapping struct {
	start, end uintptr
	perms      string
	inode      uint64
	// rss and anonymous are in bytes.
	rss, anonymous int64
}

// readSmaps parses the header line and the Rss and Anonymous fields of
// each mapping in an smaps file.
func readSmaps(path string) ([]mapping, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []mapping
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) == 0 {
			continue
		}
		if strings.HasSuffix(fields[0], ":") {
			if len(out) == 0 || len(fields) < 2 {
				continue
			}
			kb, err := strconv.ParseInt(fields[1], 10, 64)
			if err != nil {
				continue
			}
			switch fields[0] {
			case "Rss:":
				out[len(out)-1].rss = kb << 10
			case "Anonymous:":
				out[len(out)-1].anonymous = kb << 10
			}
			continue
		}
		// start-end perms offset dev inode [path]
		if len(fields) < 5 {
			continue
		}
		lo, hi, ok := strings.Cut(fields[0], "-")
		if !ok {
			continue
		}
		start, err1 := strconv.ParseUint(lo, 16, 64)
		end, err2 := strconv.ParseUint(hi, 16, 64)
		inode, err3 := strconv.ParseUint(fields[4], 10, 64)
		if err1 != nil || err2 != nil || err3 != nil {
			return nil, fmt.Errorf("%s: unexpected line %q", path, sc.Text())
		}
		out = append(out, mapping{start: uintptr(start), end: uintptr(end), perms: fields[1], inode: inode})
	}
	return out, sc.Err()
}

// physicalMemory is the memory this process may use, in bytes: the
// machine's RAM, or its cgroup's limit if that is lower; 0 if unknown.
func physicalMemory() uint64 {
	var si unix.Sysinfo_t
	if err := unix.Sysinfo(&si); err != nil {
		return 0
	}
	ram := uint64(si.Totalram) * uint64(si.Unit)
	cg, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		return ram
	}
	for _, f := range cgroupLimitFiles(string(cg)) {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		// "max" (v2) does not parse, and v1's unlimited is a huge number.
		if limit, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64); err == nil && limit < ram {
			ram = limit
		}
	}
	return ram
}

// cgroupLimitFiles are the files holding the memory limits of the cgroups
// that /proc/self/cgroup (its text) names: memory.max under the unified
// hierarchy (v2), memory.limit_in_bytes under the memory controller (v1).
func cgroupLimitFiles(procSelfCgroup string) []string {
	var files []string
	for _, line := range strings.Split(procSelfCgroup, "\n") {
		parts := strings.SplitN(line, ":", 3)
		if len(parts) != 3 {
			continue
		}
		switch {
		case parts[0] == "0" && parts[1] == "":
			files = append(files, filepath.Join("/sys/fs/cgroup", parts[2], "memory.max"))
		case slices.Contains(strings.Split(parts[1], ","), "memory"):
			files = append(files, filepath.Join("/sys/fs/cgroup/memory", parts[2], "memory.limit_in_bytes"))
		}
	}
	return files
}
