package cri

import (
	"context"
	"fmt"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"skiff/internal/agent"
)

var _ agent.StreamURLs = (*Runtime)(nil)

// ExecURL asks the runtime to prepare an exec and returns the URL of its
// streaming server that serves it (one use, short-lived).
func (r *Runtime) ExecURL(ctx context.Context, containerID string, req agent.StreamRequest) (string, error) {
	resp, err := r.rs.Exec(ctx, &runtimeapi.ExecRequest{ContainerId: containerID, Cmd: req.Command,
		Tty: req.TTY, Stdin: req.Stdin, Stdout: req.Stdout, Stderr: req.Stderr})
	if err != nil {
		return "", fmt.Errorf("exec %s: %w", containerID, err)
	}
	return resp.Url, nil
}

// AttachURL asks the runtime to prepare an attach and returns its URL.
func (r *Runtime) AttachURL(ctx context.Context, containerID string, req agent.StreamRequest) (string, error) {
	resp, err := r.rs.Attach(ctx, &runtimeapi.AttachRequest{ContainerId: containerID,
		Tty: req.TTY, Stdin: req.Stdin, Stdout: req.Stdout, Stderr: req.Stderr})
	if err != nil {
		return "", fmt.Errorf("attach %s: %w", containerID, err)
	}
	return resp.Url, nil
}

// PortForwardURL asks the runtime to prepare a port-forward into the
// sandbox's network namespace and returns its URL.
func (r *Runtime) PortForwardURL(ctx context.Context, sandboxID string, ports []int32) (string, error) {
	resp, err := r.rs.PortForward(ctx, &runtimeapi.PortForwardRequest{PodSandboxId: sandboxID, Port: ports})
	if err != nil {
		return "", fmt.Errorf("port-forward %s: %w", sandboxID, err)
	}
	return resp.Url, nil
}
