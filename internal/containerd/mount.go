package containerd

import (
	"context"
	"fmt"
	"os/exec"
	"strings"
)

// ImageMounter mounts images of the CRI's namespace (k8s.io) on the node
// with ctr, for the agent's image volumes: containerd 1.6's CRI cannot
// mount images itself (2.1's can). It implements agent.ImageMounter.
//
// `ctr images mount` unpacks the image if needed and mounts a read-only
// view snapshot named after the target folder, held by a lease of the
// same name; `ctr images unmount --rm` unmounts it and drops both, and
// does nothing much for a folder with nothing mounted on it.
type ImageMounter struct {
	// Ctr is containerd's CLI (default "ctr").
	Ctr string
	// Socket is containerd's socket (a unix:// prefix is allowed).
	Socket string
	// Snapshotter is the CRI's snapshotter, whose unpacked layers the
	// view shares (default "overlayfs", what WriteConfig configures).
	Snapshotter string
}

// NewImageMounter returns the mounter of the supervised containerd.
func (s *Supervisor) NewImageMounter() ImageMounter {
	return ImageMounter{Ctr: s.cfg.CtrBinary, Socket: s.cfg.Socket()}
}

// MountImage mounts image's root filesystem read-only on dir.
func (m ImageMounter) MountImage(ctx context.Context, image, dir string) error {
	if _, err := m.ctr(ctx, "images", "mount", "--snapshotter", m.snapshotter(), image, dir); err != nil {
		return fmt.Errorf("mount image %s: %w", image, err)
	}
	return nil
}

// UnmountImage unmounts dir and removes its view snapshot and lease.
func (m ImageMounter) UnmountImage(ctx context.Context, dir string) error {
	if _, err := m.ctr(ctx, "images", "unmount", "--snapshotter", m.snapshotter(), "--rm", dir); err != nil {
		return fmt.Errorf("unmount image at %s: %w", dir, err)
	}
	return nil
}

func (m ImageMounter) snapshotter() string {
	if m.Snapshotter == "" {
		return "overlayfs"
	}
	return m.Snapshotter
}

// ctr runs ctr against the CRI's namespace; its error carries the output.
func (m ImageMounter) ctr(ctx context.Context, args ...string) (string, error) {
	bin := m.Ctr
	if bin == "" {
		bin = "ctr"
	}
	sock := strings.TrimPrefix(m.Socket, "unix://")
	out, err := exec.CommandContext(ctx, bin, append([]string{"--address", sock, "--namespace", "k8s.io"}, args...)...).CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("%w: %s", err, strings.TrimSpace(string(out)))
	}
	return string(out), nil
}
