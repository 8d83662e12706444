package main

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestKubectlEnv(t *testing.T) {
	tests := []struct {
		name    string
		environ []string
		args    []string
		want    []string
	}{
		{
			name:    "default data dir",
			environ: []string{"HOME=/root"},
			args:    []string{"get", "pods"},
			want:    []string{"HOME=/root", "KUBECONFIG=/var/lib/skiff/admin.kubeconfig"},
		},
		{
			name:    "SKIFF_DATA_DIR",
			environ: []string{"SKIFF_DATA_DIR=/srv/skiff"},
			args:    []string{"get", "pods"},
			want:    []string{"SKIFF_DATA_DIR=/srv/skiff", "KUBECONFIG=/srv/skiff/admin.kubeconfig"},
		},
		{
			name:    "KUBECONFIG kept",
			environ: []string{"KUBECONFIG=/home/me/.kube/config", "SKIFF_DATA_DIR=/srv/skiff"},
			args:    []string{"get", "pods"},
			want:    []string{"KUBECONFIG=/home/me/.kube/config", "SKIFF_DATA_DIR=/srv/skiff"},
		},
		{
			name:    "empty KUBECONFIG replaced",
			environ: []string{"KUBECONFIG=", "A=b"},
			args:    nil,
			want:    []string{"A=b", "KUBECONFIG=/var/lib/skiff/admin.kubeconfig"},
		},
		{
			name:    "--kubeconfig flag",
			environ: []string{"A=b"},
			args:    []string{"--kubeconfig", "/tmp/k", "get", "pods"},
			want:    []string{"A=b"},
		},
		{
			name:    "--kubeconfig= flag",
			environ: []string{"A=b"},
			args:    []string{"get", "pods", "--kubeconfig=/tmp/k"},
			want:    []string{"A=b"},
		},
		{
			name:    "--kubeconfig after -- belongs to the exec'd command",
			environ: []string{"A=b"},
			args:    []string{"exec", "p", "--", "kubectl", "--kubeconfig=/x"},
			want:    []string{"A=b", "KUBECONFIG=/var/lib/skiff/admin.kubeconfig"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := kubectlEnv(tt.environ, tt.args)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("kubectlEnv() mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

// TestRunKubectlExecs runs runKubectl in a child test process, with a fake
// skiff-kubectl on PATH, and checks what a user would: the arguments,
// stdin, KUBECONFIG and the exit code reach kubectl and come back.
func TestRunKubectlExecs(t *testing.T) {
	if os.Getenv("SKIFF_TEST_KUBECTL_HELPER") == "1" {
		args := strings.Split(os.Getenv("SKIFF_TEST_KUBECTL_ARGS"), " ")
		os.Exit(runKubectl(context.Background(), args))
	}
	dir := t.TempDir()
	script := "#!/bin/sh\nprintf 'arg=%s\\n' \"$@\"\nread line\necho \"stdin=$line\"\necho \"KUBECONFIG=$KUBECONFIG\"\nexit 3\n"
	if err := os.WriteFile(filepath.Join(dir, "skiff-kubectl"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestRunKubectlExecs$")
	cmd.Env = []string{
		"SKIFF_TEST_KUBECTL_HELPER=1",
		"SKIFF_TEST_KUBECTL_ARGS=get pods -A",
		"SKIFF_DATA_DIR=/data",
		"PATH=" + dir,
	}
	cmd.Stdin = strings.NewReader("hello\n")
	out, err := cmd.Output()
	var exitErr *exec.ExitError
	if !errors.As(err, &exitErr) || exitErr.ExitCode() != 3 {
		t.Fatalf("exit: got %v, want exit status 3 (stderr %q)", err, stderrOf(err))
	}
	want := "arg=get\narg=pods\narg=-A\nstdin=hello\nKUBECONFIG=/data/admin.kubeconfig\n"
	if diff := cmp.Diff(want, string(out)); diff != "" {
		t.Errorf("kubectl output mismatch (-want +got):\n%s", diff)
	}
}

func TestRunKubectlNotFound(t *testing.T) {
	if os.Getenv("SKIFF_TEST_KUBECTL_HELPER") == "1" {
		os.Exit(runKubectl(context.Background(), []string{"version"}))
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestRunKubectlNotFound$")
	cmd.Env = []string{"SKIFF_TEST_KUBECTL_HELPER=1", "PATH=" + t.TempDir()}
	_, err := cmd.Output()
	var exitErr *exec.ExitError
	if !errors.As(err, &exitErr) || exitErr.ExitCode() != 127 {
		t.Fatalf("exit: got %v, want exit status 127", err)
	}
	if !strings.Contains(string(exitErr.Stderr), "skiff-kubectl") {
		t.Errorf("stderr %q does not name skiff-kubectl", exitErr.Stderr)
	}
}

func stderrOf(err error) string {
	if e, ok := err.(*exec.ExitError); ok {
		return string(e.Stderr)
	}
	return ""
}
