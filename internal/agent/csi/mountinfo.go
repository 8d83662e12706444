package csi

import (
	"bufio"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// inMountInfo reports whether dir is a mount point in
// /proc/self/mountinfo: a bind mount within one filesystem shares its
// parent's device, so the device alone cannot tell.
func inMountInfo(dir string) bool {
	p, err := filepath.EvalSymlinks(dir)
	if err != nil {
		return false
	}
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) > 4 && unescapeOctal(fields[4]) == p {
			return true
		}
	}
	return false
}

// unescapeOctal undoes mountinfo's \ooo escapes (of space, tab, newline
// and backslash).
func unescapeOctal(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
