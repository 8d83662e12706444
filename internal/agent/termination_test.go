package agent

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	clocktesting "k8s.io/utils/clock/testing"
)

func TestTerminationMessages(t *testing.T) {
	root, logs := t.TempDir(), t.TempDir()
	a := &Agent{cfg: Config{RootDir: root, LogDir: logs, Clock: clocktesting.NewFakeClock(t0.Add(time.Hour))}}
	pod := testPod("p").containers("file", "fallback", "quiet", "own").obj()
	for i := range pod.Spec.Containers {
		pod.Spec.Containers[i].TerminationMessagePath = corev1.TerminationMessagePathDefault
		pod.Spec.Containers[i].TerminationMessagePolicy = corev1.TerminationMessageFallbackToLogsOnError
	}
	own := &pod.Spec.Containers[3]
	own.VolumeMounts = []corev1.VolumeMount{{Name: "v", MountPath: corev1.TerminationMessagePathDefault}}
	if m, err := a.terminationMount(pod, own, 0); err != nil || len(m) != 0 {
		t.Fatalf("a container mounting its own termination path got %v, %v", m, err)
	}
	write := func(name, content string) {
		m, err := a.terminationMount(pod, &corev1.Container{Name: name, TerminationMessagePath: "/dev/termination-log"}, 0)
		if err != nil || len(m) != 1 || m[0].ContainerPath != "/dev/termination-log" {
			t.Fatalf("mount for %s: %v %v", name, m, err)
		}
		fi, err := os.Stat(m[0].HostPath)
		if err != nil || fi.Mode().Perm() != 0o666 || fi.Size() != 0 {
			t.Fatalf("termination file %v %v, want an empty file anyone may write", fi, err)
		}
		if err := os.WriteFile(m[0].HostPath, []byte(content), 0o666); err != nil {
			t.Fatal(err)
		}
	}
	write("file", "OK")
	write("fallback", "")
	write("quiet", "")
	// The failed container's log, in the CRI format.
	dir := filepath.Join(logs, fmt.Sprintf("%s_%s_%s", pod.Namespace, pod.Name, pod.UID), "fallback")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	var log strings.Builder
	for i := range 100 {
		fmt.Fprintf(&log, "2026-01-01T00:00:00.000000000Z stdout F line %d\n", i)
	}
	if err := os.WriteFile(filepath.Join(dir, "0.log"), []byte(log.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	obs := Observed{Containers: []Container{
		{Name: "file", State: ContainerExited, ExitCode: 0},
		{Name: "fallback", State: ContainerExited, ExitCode: 1},
		{Name: "quiet", State: ContainerExited, ExitCode: 0},
	}}
	withMessages, _ := a.withTerminationMessages(pod, obs)
	got := withMessages.Containers
	if got[0].Message != "OK" {
		t.Errorf("message from the file %q, want OK", got[0].Message)
	}
	if !strings.HasPrefix(got[1].Message, "line 20\n") || !strings.HasSuffix(got[1].Message, "line 99\n") {
		t.Errorf("fallback to the log's last 80 lines: %q", got[1].Message)
	}
	if got[2].Message != "" {
		t.Errorf("a container that succeeded and wrote nothing has message %q, want none", got[2].Message)
	}
	if obs.Containers[0].Message != "" {
		t.Error("withTerminationMessages changed its input")
	}
	// A last line without its end counts.
	partial := filepath.Join(t.TempDir(), "0.log")
	if err := os.WriteFile(partial, []byte("2026-01-01T00:00:00.000000000Z stdout P DONE\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if got := logTail(partial); got != "DONE" {
		t.Errorf("tail of a log ending in a partial line = %q, want DONE", got)
	}
	// A failed container whose log is still empty just after its exit is
	// worth another look shortly; long after, not.
	late := Observed{Containers: []Container{{Name: "quiet", State: ContainerExited, ExitCode: 1, FinishedAt: t0.Add(time.Hour - time.Second)}}}
	if _, retry := a.withTerminationMessages(pod, late); !retry {
		t.Error("no retry for an empty log just after the exit")
	}
	late.Containers[0].FinishedAt = t0
	if _, retry := a.withTerminationMessages(pod, late); retry {
		t.Error("a retry for an empty log long after the exit")
	}
}
