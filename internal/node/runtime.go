package node

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"skiff/internal/agent/cri"
	"skiff/internal/containerd"
	"skiff/internal/images"
	"skiff/internal/network"
)

// pauseBinaryName is the sandbox program, installed next to skiff.
const pauseBinaryName = "skiff-pause"

// nodeRuntime starts the node's containerd under the data dir (unless
// cfg.ContainerRuntimeEndpoint names one to use), imports the pause image
// and the data dir's images folder, and returns the CRI runtime and the
// image mounter of image volumes. Goroutines it starts are added to wg
// and end with ctx.
func nodeRuntime(ctx context.Context, cfg Config, wg *sync.WaitGroup) (_ *cri.Runtime, _ containerd.ImageMounter, err error) {
	// On failure, what was started stops, so that the caller's wg.Wait
	// returns and the component can be restarted.
	ctx, cancel := context.WithCancel(ctx)
	defer func() {
		if err != nil {
			cancel()
		}
	}()
	endpoint := cfg.ContainerRuntimeEndpoint
	cniConfDir := ""
	var sup *containerd.Supervisor
	if endpoint == "" {
		sup, err = containerd.New(containerd.Config{Dir: filepath.Join(cfg.DataDir, "containerd")}, cfg.Logger)
		if err != nil {
			return nil, containerd.ImageMounter{}, err
		}
		wg.Go(func() {
			if err := sup.Run(ctx); err != nil {
				cfg.Logger.Error("containerd supervisor failed", "err", err)
			}
		})
		select {
		case <-sup.Ready():
		case <-ctx.Done():
			return nil, containerd.ImageMounter{}, ctx.Err()
		case <-time.After(60 * time.Second):
			return nil, containerd.ImageMounter{}, fmt.Errorf("containerd did not start within 60s; see %s", filepath.Join(cfg.DataDir, "containerd", "containerd.log"))
		}
		endpoint = sup.Socket()
		cniConfDir = sup.Config().CNIConfDir
		if err := importNodeImages(ctx, cfg, sup); err != nil {
			return nil, containerd.ImageMounter{}, err
		}
	}
	rt, err := cri.New(cri.Config{
		Endpoint:   endpoint,
		LogDir:     filepath.Join(cfg.DataDir, "pods"),
		CNIConfDir: cniConfDir,
		// The service proxy masquerades pod egress (not pod-to-pod traffic).
		CNI:    network.CNIConfig{IPAMDir: filepath.Join(cfg.DataDir, "cni", "ipam")},
		Logger: cfg.Logger,
	})
	if err != nil {
		return nil, containerd.ImageMounter{}, err
	}
	wg.Go(func() { _ = rt.Run(ctx) })
	mounter := containerd.ImageMounter{Socket: endpoint}
	if sup != nil {
		mounter = sup.NewImageMounter()
	}
	return rt, mounter, nil
}

// importNodeImages builds the pause image from the skiff-pause binary next
// to this executable and imports it, then every tarball in <data-dir>/images.
func importNodeImages(ctx context.Context, cfg Config, sup *containerd.Supervisor) error {
	self, err := os.Executable()
	if err != nil {
		return err
	}
	pause, err := os.ReadFile(filepath.Join(filepath.Dir(self), pauseBinaryName))
	if err != nil {
		return fmt.Errorf("the pause program %s must be installed next to skiff: %w", pauseBinaryName, err)
	}
	dir := filepath.Join(cfg.DataDir, "images")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	pauseTar := filepath.Join(cfg.DataDir, "containerd", "pause.tar")
	if err := images.Write(pauseTar, images.Pause(containerd.DefaultSandboxImage, pause)); err != nil {
		return err
	}
	if err := sup.ImportImage(ctx, pauseTar); err != nil {
		return err
	}
	tars, _ := filepath.Glob(filepath.Join(dir, "*.tar"))
	for _, t := range tars {
		if err := sup.ImportImage(ctx, t); err != nil {
			cfg.Logger.Error("image import failed", "file", t, "err", err)
		}
	}
	return nil
}
