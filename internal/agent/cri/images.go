package cri

import (
	"context"
	"errors"
	"fmt"
	"syscall"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"skiff/internal/agent"
)

var _ agent.ImageManager = (*Runtime)(nil)

// ListImages implements agent.ImageManager.
func (r *Runtime) ListImages(ctx context.Context) ([]agent.Image, error) {
	resp, err := r.is.ListImages(ctx, &runtimeapi.ListImagesRequest{})
	if err != nil {
		return nil, fmt.Errorf("list images: %w", err)
	}
	out := make([]agent.Image, 0, len(resp.Images))
	for _, img := range resp.Images {
		tags := append(append([]string{}, img.RepoTags...), img.RepoDigests...)
		out = append(out, agent.Image{ID: img.Id, Tags: tags, Size: img.GetSize(), Pinned: img.GetPinned()})
	}
	return out, nil
}

// RemoveImage implements agent.ImageManager.
func (r *Runtime) RemoveImage(ctx context.Context, id string) error {
	_, err := r.is.RemoveImage(ctx, &runtimeapi.RemoveImageRequest{Image: &runtimeapi.ImageSpec{Image: id}})
	if err := idempotent(err); err != nil {
		return fmt.Errorf("remove image %s: %w", id, err)
	}
	return nil
}

// ImageFsStats implements agent.ImageManager: the size and free space of
// the filesystem under the runtime's image store, as the CRI names it.
func (r *Runtime) ImageFsStats(ctx context.Context) (agent.FsStats, error) {
	resp, err := r.is.ImageFsInfo(ctx, &runtimeapi.ImageFsInfoRequest{})
	if err != nil {
		return agent.FsStats{}, fmt.Errorf("image fs info: %w", err)
	}
	for _, fs := range resp.ImageFilesystems {
		if fs.FsId == nil || fs.FsId.Mountpoint == "" {
			continue
		}
		var st syscall.Statfs_t
		if err := syscall.Statfs(fs.FsId.Mountpoint, &st); err != nil {
			return agent.FsStats{}, fmt.Errorf("image fs %s: %w", fs.FsId.Mountpoint, err)
		}
		return agent.FsStats{Capacity: st.Blocks * uint64(st.Bsize), Available: st.Bavail * uint64(st.Bsize)}, nil
	}
	return agent.FsStats{}, errors.New("image fs info: the runtime names no image filesystem")
}
