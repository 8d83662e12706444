package agent

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/distribution/reference"
	corev1 "k8s.io/api/core/v1"
)

// pluginImage is the folder of image volumes under pods/<uid>/volumes.
// Upstream has none (its CRI mounts them); skiff mounts them itself.
const pluginImage = "kubernetes.io~image"

// ImageMounter mounts the root filesystem of an image the runtime holds on
// a folder of the node, for image volumes: containerd before 2.1 cannot
// do that through the CRI, so the agent does, with containerd's own tools.
type ImageMounter interface {
	// MountImage mounts the root filesystem of image, a full reference as
	// the runtime lists it (docker.io/library/busybox:1.36, or
	// name@sha256:...), read-only on dir, which exists and has nothing
	// mounted on it.
	MountImage(ctx context.Context, image, dir string) error
	// UnmountImage unmounts dir and releases what MountImage held for it.
	// A dir with nothing mounted on it, or none, is not an error.
	UnmountImage(ctx context.Context, dir string) error
}

// ReasonCreateContainerError is the waiting reason of a container the
// runtime could not create, upstream's.
const ReasonCreateContainerError = "CreateContainerError"

// createError is a container that could not be created for a reason of
// the node rather than of its configuration: an image volume that does
// not mount, a subPath missing in an image. As upstream, the container
// waits in CreateContainerError, the pod's other containers still start,
// and it is tried again.
type createError struct{ msg string }

func (e *createError) Error() string { return e.msg }

// imageVolumePullPolicy is an image volume's pull policy, defaulted as the
// API server does when it is empty: Always for the latest tag, else
// IfNotPresent.
func imageVolumePullPolicy(src *corev1.ImageVolumeSource) corev1.PullPolicy {
	switch {
	case src.PullPolicy != "":
		return src.PullPolicy
	case imageTag(src.Reference) == "latest":
		return corev1.PullAlways
	}
	return corev1.PullIfNotPresent
}

// containerImageVolumes are the image volumes that c mounts, in the order
// of its volumeMounts, each once. Pure.
func containerImageVolumes(pod *corev1.Pod, c *corev1.Container) []*corev1.Volume {
	var out []*corev1.Volume
	seen := map[string]bool{}
	for _, vm := range c.VolumeMounts {
		for i := range pod.Spec.Volumes {
			v := &pod.Spec.Volumes[i]
			if v.Name == vm.Name && v.Image != nil && !seen[v.Name] {
				seen[v.Name] = true
				out = append(out, v)
			}
		}
	}
	return out
}

// fullImageRef is the name the CRI lists an image under: Docker Hub's
// registry and library path filled in, the latest tag when there is
// neither tag nor digest, and only the digest when there are both. A
// reference that does not parse is returned as it is (its pull fails).
func fullImageRef(image string) string {
	named, err := reference.ParseDockerRef(image)
	if err != nil {
		return image
	}
	return named.String()
}

// ensureImageVolumes mounts the image volumes that c mounts and that are
// not mounted yet: each image is made present per the volume's pull
// policy, with the pod's imagePullSecrets, recording the pull's events
// about the pod, as upstream; then it is mounted read-only on the
// volume's folder. A failed pull is an imagePullError (the container
// waits in ErrImagePull, then ImagePullBackOff); a failed mount, a
// createError.
func (a *Agent) ensureImageVolumes(ctx context.Context, pod *corev1.Pod, c *corev1.Container, ps *podSetup) error {
	for _, v := range containerImageVolumes(pod, c) {
		dir, ok := ps.volumes[v.Name]
		if !ok || isMountedAt(dir) {
			continue
		}
		_, err := a.ensureImage(ctx, pod, imageRequest{
			image:  v.Image.Reference,
			policy: imageVolumePullPolicy(v.Image),
			auth:   pullAuths(pod, ps.objects.Secrets, v.Image.Reference),
			event:  func(typ, reason, msg string) { a.podEvent(pod, typ, reason, msg) },
		})
		if err != nil {
			return err
		}
		if a.cfg.ImageMounter == nil {
			return &createError{msg: fmt.Sprintf("failed to mount image volume %q: this node cannot mount images", v.Name)}
		}
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return fmt.Errorf("image volume %s: %w", v.Name, err)
		}
		if err := a.cfg.ImageMounter.MountImage(ctx, fullImageRef(v.Image.Reference), dir); err != nil {
			return &createError{msg: fmt.Sprintf("failed to mount image volume %q: %v", v.Name, err)}
		}
	}
	return nil
}

// imageSubPaths points the mounts of c's image volumes that have a
// subPath at what the subPath names inside the image, its symlinks
// followed within the image, as the container would see it; a subPath
// that the image lacks is a createError, as upstream's runtime reports it.
// Mounts are matched to volumeMounts by mountPath, unique in a container.
func imageSubPaths(pod *corev1.Pod, c *corev1.Container, paths map[string]string, mounts []Mount) error {
	images := map[string]bool{}
	for _, v := range containerImageVolumes(pod, c) {
		images[v.Name] = true
	}
	for _, vm := range c.VolumeMounts {
		if !images[vm.Name] {
			continue
		}
		for i := range mounts {
			m := &mounts[i]
			if m.ContainerPath != vm.MountPath || m.SubPath == "" {
				continue
			}
			p, err := resolveInRoot(paths[vm.Name], m.SubPath)
			if err == nil {
				_, err = os.Stat(p)
			}
			if err != nil {
				return &createError{msg: fmt.Sprintf("failed to mount image volume %q: subPath %q: %v", vm.Name, m.SubPath, err)}
			}
			m.HostPath = p
		}
	}
	return nil
}

// maxSymlinks bounds the symlinks resolveInRoot follows, as Linux does.
const maxSymlinks = 40

// resolveInRoot resolves sub inside root as a process whose root is root
// would: symlinks are followed relative to root, absolute ones from root,
// and ".." never leaves it. It returns the host path, which exists up to
// its last element at least. An image is untrusted: a symlink in it must
// not lead a bind mount to the node's own files.
func resolveInRoot(root, sub string) (string, error) {
	var cur []string
	rest := strings.Split(sub, "/")
	links := 0
	for len(rest) > 0 {
		part := rest[0]
		rest = rest[1:]
		switch part {
		case "", ".":
			continue
		case "..":
			if len(cur) > 0 {
				cur = cur[:len(cur)-1]
			}
			continue
		}
		next := append(append([]string{}, cur...), part)
		host := filepath.Join(append([]string{root}, next...)...)
		fi, err := os.Lstat(host)
		if errors.Is(err, os.ErrNotExist) && len(rest) == 0 {
			return host, nil
		}
		if err != nil {
			return "", err
		}
		if fi.Mode()&os.ModeSymlink == 0 {
			cur = next
			continue
		}
		if links++; links > maxSymlinks {
			return "", fmt.Errorf("too many levels of symbolic links in %s", sub)
		}
		target, err := os.Readlink(host)
		if err != nil {
			return "", err
		}
		if strings.HasPrefix(target, "/") {
			cur = nil
		}
		rest = append(strings.Split(target, "/"), rest...)
	}
	return filepath.Join(append([]string{root}, cur...)...), nil
}

// unmountImageVolumes unmounts the image volumes under a pod's folder. It
// fails when one stays mounted, so that the folder, whose mounts show an
// image's files, is never removed through them.
func (a *Agent) unmountImageVolumes(ctx context.Context, podDir string) error {
	dir := filepath.Join(podDir, "volumes", pluginImage)
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		p := filepath.Join(dir, e.Name())
		if a.cfg.ImageMounter != nil {
			if err := a.cfg.ImageMounter.UnmountImage(ctx, p); err != nil {
				return fmt.Errorf("unmount image volume %s: %w", p, err)
			}
		}
		if isMountedAt(p) {
			return fmt.Errorf("image volume %s is still mounted", p)
		}
	}
	return nil
}

// imageVolumeRefs are the full references of the image volumes of pods,
// which image garbage collection keeps. Pure.
func imageVolumeRefs(pods []*corev1.Pod) []string {
	var out []string
	for _, p := range pods {
		for _, v := range p.Spec.Volumes {
			if v.Image != nil && v.Image.Reference != "" {
				out = append(out, fullImageRef(v.Image.Reference))
			}
		}
	}
	return out
}

// isMountedAt reports whether something is mounted on dir, from the
// mount table of the agent's mount namespace (a bind mount of a folder of
// the same filesystem does not change its device).
func isMountedAt(dir string) bool {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return false
	}
	defer f.Close()
	dir = filepath.Clean(dir)
	s := bufio.NewScanner(f)
	s.Buffer(make([]byte, 64*1024), 1024*1024)
	for s.Scan() {
		fields := strings.Fields(s.Text())
		if len(fields) > 4 && unescapeMountPath(fields[4]) == dir {
			return true
		}
	}
	return false
}

// unescapeMountPath undoes the octal escapes (\040 for a space) of a path
// in /proc's mount tables.
func unescapeMountPath(p string) string {
	if !strings.Contains(p, `\`) {
		return p
	}
	var b strings.Builder
	for i := 0; i < len(p); i++ {
		if p[i] == '\\' && i+4 <= len(p) {
			if n, err := strconv.ParseUint(p[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(p[i])
	}
	return b.String()
}
