package agent

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// cgroupFS writes pod cgroups with the cgroupfs driver: directories and
// files under the cgroup mounts (cgroup v1, v1 with a v2 "unified" mount,
// or v2 only). The runtime creates each container's cgroup below the
// pod's; the agent owns the pod's and its parents.
type cgroupFS struct {
	// mount is where the cgroup filesystems are, /sys/fs/cgroup.
	mount string
}

// v2 reports whether mount is a cgroup v2 (unified) hierarchy itself.
func (c cgroupFS) v2() bool {
	_, err := os.Stat(filepath.Join(c.mount, "cgroup.controllers"))
	return err == nil
}

// hierarchies are the cgroup hierarchies under the mount: every v1
// controller folder (and the v2 one of a hybrid host), or the mount itself
// for v2.
func (c cgroupFS) hierarchies() []string {
	if c.v2() {
		return []string{c.mount}
	}
	entries, err := os.ReadDir(c.mount)
	if err != nil {
		return nil
	}
	var out []string
	for _, e := range entries {
		dir := filepath.Join(c.mount, e.Name())
		if _, err := os.Stat(filepath.Join(dir, "cgroup.procs")); err == nil {
			out = append(out, dir)
		}
	}
	return out
}

// ensure creates the pod's cgroup in every hierarchy and sets its limits.
func (c cgroupFS) ensure(pc PodCgroup) error {
	if c.v2() {
		return c.ensureV2(pc)
	}
	for _, h := range c.hierarchies() {
		if err := mkdirCgroup(h, pc.Path); err != nil {
			return fmt.Errorf("create pod cgroup %s: %w", pc.Path, err)
		}
	}
	dir := func(ctrl string) string { return filepath.Join(c.mount, ctrl, filepath.FromSlash(pc.Path)) }
	var writes []cgroupWrite
	if exists(dir("cpu")) {
		quota := pc.CPUQuota
		if quota == 0 {
			quota = -1
		}
		writes = append(writes, cgroupWrite{dir("cpu"), "cpu.shares", pc.CPUShares})
		if pc.CPUPeriod > 0 {
			writes = append(writes, cgroupWrite{dir("cpu"), "cpu.cfs_period_us", pc.CPUPeriod})
		}
		writes = append(writes, cgroupWrite{dir("cpu"), "cpu.cfs_quota_us", quota})
	}
	if exists(dir("memory")) {
		limit := pc.MemoryLimit
		if limit == 0 {
			limit = -1
		}
		writes = append(writes, cgroupWrite{dir("memory"), "memory.limit_in_bytes", limit})
	}
	for _, w := range writes {
		if err := w.apply(); err != nil {
			return fmt.Errorf("set pod cgroup %s: %w", pc.Path, err)
		}
	}
	return nil
}

// ensureV2 creates the pod's cgroup on a cgroup v2 host, with the cpu,
// memory and pids controllers enabled down to it.
func (c cgroupFS) ensureV2(pc PodCgroup) error {
	parts := strings.Split(strings.Trim(pc.Path, "/"), "/")
	cur := c.mount
	for _, p := range parts {
		_ = os.WriteFile(filepath.Join(cur, "cgroup.subtree_control"), []byte("+cpu +memory +pids"), 0o644)
		cur = filepath.Join(cur, p)
		if err := os.Mkdir(cur, 0o755); err != nil && !errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("create pod cgroup %s: %w", pc.Path, err)
		}
	}
	weight := 1 + (pc.CPUShares-minCPUShares)*9999/(maxCPUShares-minCPUShares)
	quota := "max"
	if pc.CPUQuota > 0 {
		quota = strconv.FormatInt(pc.CPUQuota, 10)
	}
	period := pc.CPUPeriod
	if period == 0 {
		period = cpuPeriodUs
	}
	mem := "max"
	if pc.MemoryLimit > 0 {
		mem = strconv.FormatInt(pc.MemoryLimit, 10)
	}
	for file, v := range map[string]string{"cpu.weight": strconv.FormatInt(weight, 10), "cpu.max": fmt.Sprintf("%s %d", quota, period), "memory.max": mem} {
		if err := os.WriteFile(filepath.Join(cur, file), []byte(v), 0o644); err != nil {
			return fmt.Errorf("set pod cgroup %s: %s: %w", pc.Path, file, err)
		}
	}
	return nil
}

// remove removes the cgroups at paths from every hierarchy; absent ones
// are fine. A cgroup that still has processes or children is an error.
func (c cgroupFS) remove(paths ...string) error {
	var errs []error
	for _, h := range c.hierarchies() {
		for _, p := range paths {
			if err := os.Remove(filepath.Join(h, filepath.FromSlash(p))); err != nil && !errors.Is(err, fs.ErrNotExist) {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}

// removeIfEmpty removes the cgroups at paths, deepest first, from every
// hierarchy where nothing is below them any more; busy ones stay.
func (c cgroupFS) removeIfEmpty(paths ...string) {
	for _, h := range c.hierarchies() {
		for _, p := range paths {
			// Busy (another pod or agent uses it) or absent: leave it.
			_ = os.Remove(filepath.Join(h, filepath.FromSlash(p)))
		}
	}
}

// cgroupWrite is one value written to one cgroup file.
type cgroupWrite struct {
	dir, file string
	value     int64
}

func (w cgroupWrite) apply() error {
	return os.WriteFile(filepath.Join(w.dir, w.file), []byte(strconv.FormatInt(w.value, 10)), 0o644)
}

// mkdirCgroup creates rel below hierarchy h, level by level; in the cpuset
// hierarchy each new level gets its parent's cpus and mems, without which
// no process could join it.
func mkdirCgroup(h, rel string) error {
	cur := h
	for _, p := range strings.Split(strings.Trim(path.Clean(rel), "/"), "/") {
		parent := cur
		cur = filepath.Join(cur, p)
		err := os.Mkdir(cur, 0o755)
		if errors.Is(err, fs.ErrExist) {
			continue
		}
		if err != nil {
			return err
		}
		for _, f := range []string{"cpuset.cpus", "cpuset.mems"} {
			v, err := os.ReadFile(filepath.Join(parent, f))
			if err != nil {
				continue // not the cpuset hierarchy
			}
			if err := os.WriteFile(filepath.Join(cur, f), v, 0o644); err != nil && !errors.Is(err, syscall.EINVAL) {
				return fmt.Errorf("%s: %w", f, err)
			}
		}
	}
	return nil
}

func exists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// unlimitedMemory is about where cgroup v1 reads back "no memory limit".
const unlimitedMemory = int64(1) << 62

// read returns the cpu and memory settings of the cgroup at p: shares
// (cpu.weight converted back on v2), quota and period (0: none) and the
// memory limit (0: none).
func (c cgroupFS) read(p string) (PodCgroup, error) {
	pc := PodCgroup{Path: p}
	readInt := func(dir, file string) (int64, error) {
		b, err := os.ReadFile(filepath.Join(dir, file))
		if err != nil {
			return 0, err
		}
		return strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	}
	if c.v2() {
		dir := filepath.Join(c.mount, filepath.FromSlash(p))
		w, err := readInt(dir, "cpu.weight")
		if err != nil {
			return pc, fmt.Errorf("read pod cgroup %s: %w", p, err)
		}
		pc.CPUShares = minCPUShares + (w-1)*(maxCPUShares-minCPUShares)/9999
		b, err := os.ReadFile(filepath.Join(dir, "cpu.max"))
		if err != nil {
			return pc, fmt.Errorf("read pod cgroup %s: %w", p, err)
		}
		if f := strings.Fields(string(b)); len(f) == 2 {
			pc.CPUQuota, _ = strconv.ParseInt(f[0], 10, 64) // "max" reads 0
			pc.CPUPeriod, _ = strconv.ParseInt(f[1], 10, 64)
		}
		b, err = os.ReadFile(filepath.Join(dir, "memory.max"))
		if err != nil {
			return pc, fmt.Errorf("read pod cgroup %s: %w", p, err)
		}
		pc.MemoryLimit, _ = strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
		return pc, nil
	}
	cpu, mem := filepath.Join(c.mount, "cpu", filepath.FromSlash(p)), filepath.Join(c.mount, "memory", filepath.FromSlash(p))
	var err error
	if pc.CPUShares, err = readInt(cpu, "cpu.shares"); err != nil {
		return pc, fmt.Errorf("read pod cgroup %s: %w", p, err)
	}
	if pc.CPUQuota, err = readInt(cpu, "cpu.cfs_quota_us"); err != nil {
		return pc, fmt.Errorf("read pod cgroup %s: %w", p, err)
	}
	pc.CPUQuota = max(pc.CPUQuota, 0)
	if pc.CPUPeriod, err = readInt(cpu, "cpu.cfs_period_us"); err != nil {
		return pc, fmt.Errorf("read pod cgroup %s: %w", p, err)
	}
	if pc.MemoryLimit, err = readInt(mem, "memory.limit_in_bytes"); err != nil {
		return pc, fmt.Errorf("read pod cgroup %s: %w", p, err)
	}
	if pc.MemoryLimit >= unlimitedMemory {
		pc.MemoryLimit = 0
	}
	return pc, nil
}

// setCPULimit writes the cpu quota and period of pc to its cgroup.
func (c cgroupFS) setCPULimit(pc PodCgroup) error {
	period := pc.CPUPeriod
	if period == 0 {
		period = cpuPeriodUs
	}
	if c.v2() {
		quota := "max"
		if pc.CPUQuota > 0 {
			quota = strconv.FormatInt(pc.CPUQuota, 10)
		}
		return c.write(pc.Path, "", "cpu.max", fmt.Sprintf("%s %d", quota, period))
	}
	quota := pc.CPUQuota
	if quota == 0 {
		quota = -1
	}
	if err := c.write(pc.Path, "cpu", "cpu.cfs_period_us", strconv.FormatInt(period, 10)); err != nil {
		return err
	}
	return c.write(pc.Path, "cpu", "cpu.cfs_quota_us", strconv.FormatInt(quota, 10))
}

// setCPUShares writes the cpu shares (weight on v2) of pc to its cgroup.
func (c cgroupFS) setCPUShares(pc PodCgroup) error {
	if c.v2() {
		weight := 1 + (pc.CPUShares-minCPUShares)*9999/(maxCPUShares-minCPUShares)
		return c.write(pc.Path, "", "cpu.weight", strconv.FormatInt(weight, 10))
	}
	return c.write(pc.Path, "cpu", "cpu.shares", strconv.FormatInt(pc.CPUShares, 10))
}

// setMemoryLimit writes the memory limit of pc (0: none) to its cgroup.
func (c cgroupFS) setMemoryLimit(pc PodCgroup) error {
	if c.v2() {
		v := "max"
		if pc.MemoryLimit > 0 {
			v = strconv.FormatInt(pc.MemoryLimit, 10)
		}
		return c.write(pc.Path, "", "memory.max", v)
	}
	v := pc.MemoryLimit
	if v == 0 {
		v = -1
	}
	return c.write(pc.Path, "memory", "memory.limit_in_bytes", strconv.FormatInt(v, 10))
}

// memoryUsage is the memory in use by the cgroup at p, nil when it
// cannot be read.
func (c cgroupFS) memoryUsage(p string) *int64 {
	file := filepath.Join(c.mount, "memory", filepath.FromSlash(p), "memory.usage_in_bytes")
	if c.v2() {
		file = filepath.Join(c.mount, filepath.FromSlash(p), "memory.current")
	}
	u := readUint(file)
	if u == nil {
		return nil
	}
	v := int64(*u)
	return &v
}

// write writes v to file of the cgroup p in controller's hierarchy (the
// mount itself on v2).
func (c cgroupFS) write(p, controller, file, v string) error {
	if err := os.WriteFile(filepath.Join(c.mount, controller, filepath.FromSlash(p), file), []byte(v), 0o644); err != nil {
		return fmt.Errorf("set pod cgroup %s: %s: %w", p, file, err)
	}
	return nil
}
