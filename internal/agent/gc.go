package agent

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
)

// Defaults of the garbage collection, upstream's kubelet's:
// imageGCHighThresholdPercent, imageGCLowThresholdPercent,
// imageMinimumGCAge, and the period of its container GC.
const (
	DefaultImageGCHighPercent = 85
	DefaultImageGCLowPercent  = 80
	DefaultImageMinimumGCAge  = 2 * time.Minute
	DefaultHousekeeping       = time.Minute
)

// ImageManager is implemented by runtimes whose images take disk space
// (CRI): the agent removes unused images when the image filesystem fills.
type ImageManager interface {
	// ListImages lists the images the runtime holds.
	ListImages(ctx context.Context) ([]Image, error)
	// RemoveImage removes an image by ID; an unknown ID is not an error.
	RemoveImage(ctx context.Context, id string) error
	// ImageFsStats reports the size and free space of the filesystem
	// that holds the images.
	ImageFsStats(ctx context.Context) (FsStats, error)
}

// Image is an image as the runtime reports it.
type Image struct {
	// ID is the image's ID, what Container.ImageRef refers to.
	ID string
	// Tags are its repo tags (and RepoDigests), for pinning by name.
	Tags []string
	Size uint64
	// Pinned images are never removed (the runtime says so).
	Pinned bool
}

// FsStats is a filesystem's size and free space, in bytes.
type FsStats struct {
	Capacity, Available uint64
}

// containerGarbage decides which dead containers and sandboxes to remove,
// as upstream's container GC with maxPerPodContainer=1: of each container
// of each pod, exited instances beyond the newest one; of each pod, the
// sandboxes that are not its newest one, not ready and hold no container
// (once those containers are removed). Pure; IDs come sorted.
func containerGarbage(cs []Container, sbs []Sandbox) (containers, sandboxes []string) {
	type unit struct {
		pod  types.UID
		name string
	}
	exited := map[unit][]Container{}
	for _, c := range cs {
		if c.State == ContainerExited {
			u := unit{c.PodUID, c.Name}
			exited[u] = append(exited[u], c)
		}
	}
	removed := map[string]bool{}
	for _, list := range exited {
		sort.Slice(list, func(i, j int) bool {
			if list[i].Attempt != list[j].Attempt {
				return list[i].Attempt > list[j].Attempt
			}
			return list[i].CreatedAt.After(list[j].CreatedAt)
		})
		for _, c := range list[1:] {
			containers = append(containers, c.ID)
			removed[c.ID] = true
		}
	}
	holding := map[string]bool{}
	for _, c := range cs {
		if !removed[c.ID] {
			holding[c.SandboxID] = true
		}
	}
	byPod := map[types.UID][]Sandbox{}
	for _, sb := range sbs {
		byPod[sb.PodUID] = append(byPod[sb.PodUID], sb)
	}
	for _, list := range byPod {
		newest := latestSandbox(list)
		for _, sb := range list {
			if sb.ID != newest.ID && sb.State != SandboxReady && !holding[sb.ID] {
				sandboxes = append(sandboxes, sb.ID)
			}
		}
	}
	sort.Strings(containers)
	sort.Strings(sandboxes)
	return containers, sandboxes
}

// imagePolicy is when and how far images are collected.
type imagePolicy struct {
	// HighPercent of the image filesystem used starts a collection that
	// frees space down to LowPercent.
	HighPercent, LowPercent int
	// MinAge spares images used (or first seen) more recently.
	MinAge time.Duration
	// Keep names images never removed (the sandbox image).
	Keep []string
}

// imageGarbage decides which images to remove, as upstream's image GC:
// nothing while the filesystem is below HighPercent used; then unused,
// unpinned images, least recently used first, until the usage would be
// at LowPercent. lastUsed holds when each image was last seen in use (or
// first seen). Pure.
func imageGarbage(images []Image, inUse map[string]bool, lastUsed map[string]time.Time, fs FsStats, p imagePolicy, now time.Time) []Image {
	if fs.Capacity == 0 || fs.Available > fs.Capacity {
		return nil
	}
	used := fs.Capacity - fs.Available
	if used*100 < uint64(p.HighPercent)*fs.Capacity {
		return nil
	}
	target := fs.Capacity * uint64(p.LowPercent) / 100
	if used <= target {
		return nil
	}
	toFree := used - target
	keep := map[string]bool{}
	for _, k := range p.Keep {
		keep[k] = true
	}
	var cands []Image
	for _, img := range images {
		if img.Pinned || inUse[img.ID] || now.Sub(lastUsed[img.ID]) < p.MinAge {
			continue
		}
		kept := false
		for _, t := range img.Tags {
			kept = kept || keep[t]
		}
		if !kept {
			cands = append(cands, img)
		}
	}
	sort.Slice(cands, func(i, j int) bool {
		ti, tj := lastUsed[cands[i].ID], lastUsed[cands[j].ID]
		if !ti.Equal(tj) {
			return ti.Before(tj)
		}
		return cands[i].ID < cands[j].ID
	})
	var out []Image
	var freed uint64
	for _, img := range cands {
		if freed >= toFree {
			break
		}
		out = append(out, img)
		freed += img.Size
	}
	return out
}

// imagesInUse are the image IDs (and names) of every container that
// exists, running or not, as a container keeps its image, and the names
// of the image volumes of the node's pods (volumeRefs), as a pod keeps
// the images it mounts.
func imagesInUse(cs []Container, volumeRefs []string) map[string]bool {
	in := map[string]bool{}
	for _, r := range volumeRefs {
		in[r] = true
	}
	for _, c := range cs {
		if c.ImageRef != "" {
			in[c.ImageRef] = true
		}
		if c.Image != "" {
			in[c.Image] = true
		}
	}
	return in
}

// collectGarbage removes dead containers and sandboxes per
// containerGarbage, then images per imageGarbage when the runtime is an
// ImageManager.
func (a *Agent) collectGarbage(ctx context.Context) error {
	rt := a.cfg.Runtime
	sbs, err := rt.ListPodSandboxes(ctx, "")
	if err != nil {
		return fmt.Errorf("garbage collection: %w", err)
	}
	cs, err := rt.ListContainers(ctx, "")
	if err != nil {
		return fmt.Errorf("garbage collection: %w", err)
	}
	var errs []error
	deadContainers, deadSandboxes := containerGarbage(cs, sbs)
	for _, id := range deadContainers {
		if err := rt.RemoveContainer(ctx, id); err != nil {
			errs = append(errs, fmt.Errorf("remove dead container %s: %w", id, err))
		}
	}
	for _, id := range deadSandboxes {
		if err := rt.RemovePodSandbox(ctx, id); err != nil {
			errs = append(errs, fmt.Errorf("remove dead sandbox %s: %w", id, err))
		}
	}
	if len(deadContainers)+len(deadSandboxes) > 0 {
		a.log.Info("removed dead containers and sandboxes", "containers", len(deadContainers), "sandboxes", len(deadSandboxes))
	}
	if im, ok := rt.(ImageManager); ok {
		if err := a.collectImages(ctx, im, cs); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// collectImages removes unused images when the image filesystem is full.
func (a *Agent) collectImages(ctx context.Context, im ImageManager, cs []Container) error {
	images, err := im.ListImages(ctx)
	if err != nil {
		return fmt.Errorf("image garbage collection: %w", err)
	}
	fs, err := im.ImageFsStats(ctx)
	if err != nil {
		return fmt.Errorf("image garbage collection: %w", err)
	}
	now := a.cfg.Clock.Now()
	a.mu.Lock()
	var pods []*corev1.Pod
	for _, e := range a.pods {
		if e.pod != nil {
			pods = append(pods, e.pod)
		}
	}
	inUse := imagesInUse(cs, imageVolumeRefs(pods))
	seen := make(map[string]time.Time, len(images))
	for _, img := range images {
		t, ok := a.imageLastUsed[img.ID]
		if !ok || inUse[img.ID] {
			t = now
		}
		for _, tag := range img.Tags {
			if inUse[tag] {
				// Containers name their image; mark its ID in use too.
				t = now
				inUse[img.ID] = true
			}
		}
		seen[img.ID] = t
	}
	a.imageLastUsed = seen
	lastUsed := make(map[string]time.Time, len(seen))
	for k, v := range seen {
		lastUsed[k] = v
	}
	a.mu.Unlock()
	policy := imagePolicy{HighPercent: a.cfg.ImageGCHighPercent, LowPercent: a.cfg.ImageGCLowPercent, MinAge: a.cfg.ImageMinimumGCAge, Keep: a.cfg.PinnedImages}
	var errs []error
	for _, img := range imageGarbage(images, inUse, lastUsed, fs, policy, now) {
		if err := im.RemoveImage(ctx, img.ID); err != nil {
			errs = append(errs, fmt.Errorf("remove image %s: %w", img.ID, err))
			continue
		}
		a.log.Info("removed unused image", "image", img.ID, "tags", img.Tags, "size", img.Size)
	}
	return errors.Join(errs...)
}
