package agent

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// Termination messages, as upstream's kubelet: each container instance
// gets an empty, world-writable file mounted at its terminationMessagePath
// (/dev/termination-log by default); when the container ends, what it
// wrote there (at most 4 KiB) is its terminated state's message. With
// terminationMessagePolicy FallbackToLogsOnError, a container that failed
// and wrote nothing gets the tail of its log instead (80 lines, 2 KiB).

const (
	maxTerminationMessage = 4096
	fallbackLogLines      = 80
	fallbackLogBytes      = 2048
)

// terminationFile is where one container instance's termination message
// lives on the host.
func (a *Agent) terminationFile(uid string, container string, attempt uint32) string {
	return filepath.Join(a.cfg.RootDir, "pods", uid, "containers", container, strconv.FormatUint(uint64(attempt), 10))
}

// terminationMount creates the instance's termination message file and
// returns its mount, or nothing when the agent keeps no pod folders, the
// container has no termination message path or mounts that path itself.
func (a *Agent) terminationMount(pod *corev1.Pod, c *corev1.Container, attempt uint32) ([]Mount, error) {
	if a.cfg.RootDir == "" || c.TerminationMessagePath == "" || mountsPath(c, filepath.Clean(c.TerminationMessagePath)) {
		return nil, nil
	}
	file := a.terminationFile(string(pod.UID), c.Name, attempt)
	if err := os.MkdirAll(filepath.Dir(file), 0o750); err != nil {
		return nil, err
	}
	f, err := os.Create(file)
	if err != nil {
		return nil, fmt.Errorf("create termination message file: %w", err)
	}
	_ = f.Close()
	// Any user of the container may write it.
	if err := os.Chmod(file, 0o666); err != nil {
		return nil, err
	}
	return []Mount{{HostPath: file, ContainerPath: c.TerminationMessagePath}}, nil
}

// logSettle is how long after a container's exit its log may still be
// catching up with what it wrote.
const logSettle = 5 * time.Second

// withTerminationMessages fills in the messages of the pod's exited
// containers that the runtime left empty; it returns a copy of obs, and
// whether a log tail came up empty so soon after the exit that it is worth
// reading again shortly (the runtime may not have written it all yet).
func (a *Agent) withTerminationMessages(pod *corev1.Pod, obs Observed) (Observed, bool) {
	if a.cfg.RootDir == "" {
		return obs, false
	}
	retry := false
	specs := map[string]*corev1.Container{}
	for i := range pod.Spec.InitContainers {
		specs[pod.Spec.InitContainers[i].Name] = &pod.Spec.InitContainers[i]
	}
	for i := range pod.Spec.Containers {
		specs[pod.Spec.Containers[i].Name] = &pod.Spec.Containers[i]
	}
	cs := make([]Container, len(obs.Containers))
	copy(cs, obs.Containers)
	for i := range cs {
		c := &cs[i]
		spec := specs[c.Name]
		if c.State != ContainerExited || c.Message != "" || spec == nil {
			continue
		}
		if b, err := readAtMost(a.terminationFile(string(pod.UID), c.Name, c.Attempt), maxTerminationMessage); err == nil {
			c.Message = string(b)
		}
		if c.Message == "" && c.ExitCode != 0 && spec.TerminationMessagePolicy == corev1.TerminationMessageFallbackToLogsOnError && a.cfg.LogDir != "" {
			dir := filepath.Join(a.cfg.LogDir, fmt.Sprintf("%s_%s_%s", pod.Namespace, pod.Name, pod.UID))
			c.Message = logTail(filepath.Join(dir, c.Name, fmt.Sprintf("%d.log", c.Attempt)))
			if c.Message == "" && a.cfg.Clock.Since(c.FinishedAt) < logSettle {
				retry = true
			}
		}
	}
	obs.Containers = cs
	return obs, retry
}

func readAtMost(path string, n int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(io.LimitReader(f, n))
}

// logTail is the end of a CRI log file: its last lines' messages, at most
// fallbackLogLines lines and fallbackLogBytes bytes.
func logTail(path string) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	var lines [][]byte
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	var cur []byte
	for sc.Scan() {
		l, err := ParseCRILogLine(sc.Bytes())
		if err != nil {
			continue
		}
		cur = append(cur, l.Message...)
		if l.Partial {
			continue
		}
		lines = append(lines, append(cur, '\n'))
		cur = nil
		if len(lines) > fallbackLogLines {
			lines = lines[1:]
		}
	}
	if len(cur) > 0 {
		// The last line never ended (echo -n): it counts as written.
		lines = append(lines, cur)
		if len(lines) > fallbackLogLines {
			lines = lines[1:]
		}
	}
	out := bytes.Join(lines, nil)
	if len(out) > fallbackLogBytes {
		out = out[len(out)-fallbackLogBytes:]
	}
	return string(out)
}
