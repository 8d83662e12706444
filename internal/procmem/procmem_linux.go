//go:build linux

package procmem

import (
	"bufio"
	"fmt"
	"os"
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

// physicalMemory is the machine's RAM in bytes, 0 if unknown.
func physicalMemory() uint64 {
	var si unix.Sysinfo_t
	if err := unix.Sysinfo(&si); err != nil {
		return 0
	}
	return uint64(si.Totalram) * uint64(si.Unit)
}
