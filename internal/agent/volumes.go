package agent

import (
	"bytes"
	"context"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"syscall"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	certificatesv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
)

// Volume plugin directory names, upstream's, under pods/<uid>/volumes.
const (
	pluginEmptyDir  = "kubernetes.io~empty-dir"
	pluginConfigMap = "kubernetes.io~configmap"
	pluginSecret    = "kubernetes.io~secret"
	pluginDownward  = "kubernetes.io~downward-api"
	pluginProjected = "kubernetes.io~projected"
)

// Image volumes live in pluginImage (imagevolumes.go).

// defaultFileMode is the mode of projected files without one, upstream's.
const defaultFileMode = 0o644

// projectedFile is one file of a configMap, secret, downwardAPI or
// projected volume.
type projectedFile struct {
	Data []byte
	Mode os.FileMode
}

// tokenSource issues a service account token bound to the pod.
type tokenSource func(ctx context.Context, pod *corev1.Pod, p *corev1.ServiceAccountTokenProjection) ([]byte, error)

// podDir is where the agent keeps one pod's volumes.
func (a *Agent) podDir(uid types.UID) string {
	return filepath.Join(a.cfg.RootDir, "pods", string(uid))
}

// volumePlugin names the plugin directory of a volume the agent
// materialises; "" for hostPath and the volume types it does not support.
func volumePlugin(v *corev1.Volume) string {
	switch {
	case v.EmptyDir != nil:
		return pluginEmptyDir
	case v.ConfigMap != nil:
		return pluginConfigMap
	case v.Secret != nil:
		return pluginSecret
	case v.DownwardAPI != nil:
		return pluginDownward
	case v.Projected != nil:
		return pluginProjected
	case v.Image != nil:
		return pluginImage
	}
	return ""
}

// volumeSources is what projected volumes take from outside the pod's
// namespace objects.
type volumeSources struct {
	// token issues service account tokens.
	token tokenSource
	// bundles are the cluster's ClusterTrustBundles.
	bundles []certificatesv1.ClusterTrustBundle
	// podCert gives the key and issued chain of a podCertificate source.
	podCert podCertSource
}

// volumeFiles computes the files of a configMap, secret, downwardAPI or
// projected volume. It is pure but for src's token and podCert, which
// issue credentials.
func volumeFiles(ctx context.Context, pod *corev1.Pod, v *corev1.Volume, in envInput, src volumeSources) (map[string]projectedFile, error) {
	token, bundles := src.token, src.bundles
	files := map[string]projectedFile{}
	switch {
	case v.ConfigMap != nil:
		return files, addConfigMapFiles(files, pod, v.ConfigMap.Name, v.ConfigMap.Items, v.ConfigMap.Optional, v.ConfigMap.DefaultMode, in)
	case v.Secret != nil:
		return files, addSecretFiles(files, pod, v.Secret.SecretName, v.Secret.Items, v.Secret.Optional, v.Secret.DefaultMode, in)
	case v.DownwardAPI != nil:
		return files, addDownwardFiles(files, pod, v.DownwardAPI.Items, v.DownwardAPI.DefaultMode, in)
	case v.Projected != nil:
		for i, s := range v.Projected.Sources {
			var err error
			switch {
			case s.ConfigMap != nil:
				err = addConfigMapFiles(files, pod, s.ConfigMap.Name, s.ConfigMap.Items, s.ConfigMap.Optional, v.Projected.DefaultMode, in)
			case s.Secret != nil:
				err = addSecretFiles(files, pod, s.Secret.Name, s.Secret.Items, s.Secret.Optional, v.Projected.DefaultMode, in)
			case s.DownwardAPI != nil:
				err = addDownwardFiles(files, pod, s.DownwardAPI.Items, v.Projected.DefaultMode, in)
			case s.ServiceAccountToken != nil:
				if token == nil {
					return nil, errors.New("service account tokens are not available")
				}
				tok, terr := token(ctx, pod, s.ServiceAccountToken)
				if terr != nil {
					return nil, terr
				}
				files[s.ServiceAccountToken.Path] = projectedFile{Data: tok, Mode: fileMode(nil, v.Projected.DefaultMode)}
			case s.PodCertificate != nil:
				if src.podCert == nil {
					return nil, errors.New("pod certificates are not available")
				}
				key, chain, cerr := src.podCert(ctx, pod, v.Name, i, s.PodCertificate)
				if cerr != nil {
					return nil, cerr
				}
				addPodCertificateFiles(files, s.PodCertificate, key, chain, fileMode(nil, v.Projected.DefaultMode))
			case s.ClusterTrustBundle != nil:
				var data []byte
				data, err = trustAnchors(s.ClusterTrustBundle, bundles)
				if err == nil {
					files[s.ClusterTrustBundle.Path] = projectedFile{Data: data, Mode: fileMode(nil, v.Projected.DefaultMode)}
				}
			}
			if err != nil {
				return nil, err
			}
		}
	}
	return files, nil
}

// trustAnchors is the content of a clusterTrustBundle projection, as
// upstream's kubelet writes it: the bundle named, or the distinct
// certificates of the signer's bundles that the label selector matches (a
// nil selector matches none), as PEM. Nothing found is an error unless the
// source is optional, which projects an empty file. skiff orders the
// signer's certificates by their DER bytes; upstream shuffles them once
// per kubelet start.
func trustAnchors(src *corev1.ClusterTrustBundleProjection, bundles []certificatesv1.ClusterTrustBundle) ([]byte, error) {
	optional := isOptional(src.Optional)
	switch {
	case src.Name != nil:
		for i := range bundles {
			if bundles[i].Name == *src.Name {
				return []byte(bundles[i].Spec.TrustBundle), nil
			}
		}
		if optional {
			return []byte{}, nil
		}
		return nil, &configError{msg: fmt.Sprintf("while getting ClusterTrustBundle %q: clustertrustbundles.certificates.k8s.io %q not found", *src.Name, *src.Name)}
	case src.SignerName != nil:
		sel := labels.Nothing()
		if src.LabelSelector != nil {
			var err error
			if sel, err = metav1.LabelSelectorAsSelector(src.LabelSelector); err != nil {
				return nil, &configError{msg: fmt.Sprintf("while parsing label selector: %v", err)}
			}
		}
		seen := map[string]bool{}
		var ders []string
		for i := range bundles {
			b := &bundles[i]
			if b.Spec.SignerName != *src.SignerName || !sel.Matches(labels.Set(b.Labels)) {
				continue
			}
			rest := []byte(b.Spec.TrustBundle)
			for {
				var blk *pem.Block
				if blk, rest = pem.Decode(rest); blk == nil {
					break
				}
				if !seen[string(blk.Bytes)] {
					seen[string(blk.Bytes)] = true
					ders = append(ders, string(blk.Bytes))
				}
			}
		}
		if len(ders) == 0 && !optional {
			return nil, &configError{msg: fmt.Sprintf("combined trust anchors for signer %s and selector %s was empty", *src.SignerName, sel)}
		}
		sort.Strings(ders)
		out := []byte{}
		for _, d := range ders {
			out = append(out, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: []byte(d)})...)
		}
		return out, nil
	}
	return nil, &configError{msg: "ClusterTrustBundle projection requires either name or signerName to be set"}
}

// needsTrustBundles reports whether a pod projects ClusterTrustBundles.
func needsTrustBundles(pod *corev1.Pod) bool {
	for _, v := range pod.Spec.Volumes {
		if v.Projected == nil {
			continue
		}
		for _, s := range v.Projected.Sources {
			if s.ClusterTrustBundle != nil {
				return true
			}
		}
	}
	return false
}

func addConfigMapFiles(files map[string]projectedFile, pod *corev1.Pod, name string, items []corev1.KeyToPath, optional *bool, defMode *int32, in envInput) error {
	cm, err := in.Objects.configMap(name)
	if err != nil {
		if isOptional(optional) {
			return nil
		}
		return err
	}
	data := map[string][]byte{}
	for k, v := range cm.Data {
		data[k] = []byte(v)
	}
	for k, v := range cm.BinaryData {
		data[k] = v
	}
	return addKeyFiles(files, data, items, optional, defMode, func(key string) error {
		return &configError{msg: fmt.Sprintf("configmap references non-existent config key: %s", key)}
	})
}

func addSecretFiles(files map[string]projectedFile, pod *corev1.Pod, name string, items []corev1.KeyToPath, optional *bool, defMode *int32, in envInput) error {
	s, err := in.Objects.secret(name)
	if err != nil {
		if isOptional(optional) {
			return nil
		}
		return err
	}
	return addKeyFiles(files, s.Data, items, optional, defMode, func(key string) error {
		return &configError{msg: fmt.Sprintf("references non-existent secret key: %s", key)}
	})
}

// addKeyFiles adds every key as a file, or only items when given.
func addKeyFiles(files map[string]projectedFile, data map[string][]byte, items []corev1.KeyToPath, optional *bool, defMode *int32, missing func(string) error) error {
	if len(items) == 0 {
		for k, v := range data {
			files[k] = projectedFile{Data: v, Mode: fileMode(nil, defMode)}
		}
		return nil
	}
	for _, it := range items {
		v, ok := data[it.Key]
		if !ok {
			if isOptional(optional) {
				continue
			}
			return missing(it.Key)
		}
		files[it.Path] = projectedFile{Data: v, Mode: fileMode(it.Mode, defMode)}
	}
	return nil
}

func addDownwardFiles(files map[string]projectedFile, pod *corev1.Pod, items []corev1.DownwardAPIVolumeFile, defMode *int32, in envInput) error {
	for _, it := range items {
		var v string
		var err error
		switch {
		case it.FieldRef != nil:
			v, err = podFieldValue(pod, it.FieldRef.FieldPath, in.PodIPs, in.HostIPs)
		case it.ResourceFieldRef != nil:
			c := specContainer(pod.Spec.Containers, it.ResourceFieldRef.ContainerName)
			if c == nil {
				return &configError{msg: fmt.Sprintf("cannot find container %q", it.ResourceFieldRef.ContainerName)}
			}
			ref := *it.ResourceFieldRef
			v, err = resourceFieldValue(c, &ref, in.Allocatable)
		}
		if err != nil {
			return err
		}
		files[it.Path] = projectedFile{Data: []byte(v), Mode: fileMode(it.Mode, defMode)}
	}
	return nil
}

func fileMode(mode, defMode *int32) os.FileMode {
	switch {
	case mode != nil:
		return os.FileMode(*mode)
	case defMode != nil:
		return os.FileMode(*defMode)
	}
	return defaultFileMode
}

// writeAtomic makes dir hold exactly files, in upstream's atomic writer
// layout: the files live in a timestamped ..<time> directory, ..data is a
// symlink to it, and each top-level name is a symlink through ..data; an
// update writes a new directory and swaps ..data with one rename, so a
// reader sees either all old or all new files. Nothing is written when
// the content is unchanged.
func writeAtomic(dir string, files map[string]projectedFile, now time.Time) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("write volume: %w", err)
	}
	dataLink := filepath.Join(dir, "..data")
	oldTarget, _ := os.Readlink(dataLink)
	if oldTarget != "" && sameFiles(filepath.Join(dir, oldTarget), files) {
		return nil
	}
	tsDir, err := os.MkdirTemp(dir, now.UTC().Format("..2006_01_02_15_04_05."))
	if err != nil {
		return fmt.Errorf("write volume: %w", err)
	}
	if err := os.Chmod(tsDir, 0o755); err != nil {
		return fmt.Errorf("write volume: %w", err)
	}
	for p, f := range files {
		full := filepath.Join(tsDir, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			return fmt.Errorf("write volume: %w", err)
		}
		if err := os.WriteFile(full, f.Data, f.Mode); err != nil {
			return fmt.Errorf("write volume: %w", err)
		}
		if err := os.Chmod(full, f.Mode); err != nil {
			return fmt.Errorf("write volume: %w", err)
		}
	}
	tmpLink := filepath.Join(dir, "..data_tmp")
	_ = os.Remove(tmpLink)
	if err := os.Symlink(filepath.Base(tsDir), tmpLink); err != nil {
		return fmt.Errorf("write volume: %w", err)
	}
	if err := os.Rename(tmpLink, dataLink); err != nil {
		return fmt.Errorf("write volume: %w", err)
	}
	// User-visible names: one symlink per top-level entry.
	top := map[string]bool{}
	for p := range files {
		top[strings.SplitN(path.Clean(p), "/", 2)[0]] = true
	}
	for name := range top {
		link := filepath.Join(dir, name)
		if t, err := os.Readlink(link); err == nil && t == filepath.Join("..data", name) {
			continue
		}
		_ = os.RemoveAll(link)
		if err := os.Symlink(filepath.Join("..data", name), link); err != nil {
			return fmt.Errorf("write volume: %w", err)
		}
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("write volume: %w", err)
	}
	for _, e := range entries {
		n := e.Name()
		switch {
		case n == "..data" || n == filepath.Base(tsDir):
		case strings.HasPrefix(n, ".."):
			_ = os.RemoveAll(filepath.Join(dir, n))
		case !top[n]:
			_ = os.Remove(filepath.Join(dir, n))
		}
	}
	return nil
}

// sameFiles reports whether dir holds exactly files.
func sameFiles(dir string, files map[string]projectedFile) bool {
	n := 0
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		n++
		rel, _ := filepath.Rel(dir, p)
		f, ok := files[filepath.ToSlash(rel)]
		if !ok {
			return errors.New("extra")
		}
		b, err := os.ReadFile(p)
		if err != nil || !bytes.Equal(b, f.Data) {
			return errors.New("differs")
		}
		if info, err := d.Info(); err != nil || info.Mode().Perm() != f.Mode.Perm() {
			return errors.New("mode")
		}
		return nil
	})
	return err == nil && n == len(files)
}

// checkHostPath applies a hostPath volume's type, creating what the
// *OrCreate types ask for.
func checkHostPath(p string, t *corev1.HostPathType) error {
	typ := corev1.HostPathUnset
	if t != nil {
		typ = *t
	}
	info, err := os.Stat(p)
	exists := err == nil
	switch typ {
	case corev1.HostPathUnset:
		return nil
	case corev1.HostPathDirectoryOrCreate:
		if !exists {
			return os.MkdirAll(p, 0o755)
		}
		if !info.IsDir() {
			return fmt.Errorf("hostPath type check failed: %s is not a directory", p)
		}
		return nil
	case corev1.HostPathFileOrCreate:
		if !exists {
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				return err
			}
			f, err := os.OpenFile(p, os.O_CREATE|os.O_WRONLY, 0o644)
			if err != nil {
				return err
			}
			return f.Close()
		}
		if !info.Mode().IsRegular() {
			return fmt.Errorf("hostPath type check failed: %s is not a file", p)
		}
		return nil
	}
	if !exists {
		return fmt.Errorf("hostPath type check failed: %s does not exist", p)
	}
	var ok bool
	var what string
	switch typ {
	case corev1.HostPathDirectory:
		ok, what = info.IsDir(), "a directory"
	case corev1.HostPathFile:
		ok, what = info.Mode().IsRegular(), "a file"
	case corev1.HostPathSocket:
		ok, what = info.Mode()&os.ModeSocket != 0, "a socket file"
	case corev1.HostPathCharDev:
		ok, what = info.Mode()&os.ModeCharDevice != 0, "a character device"
	case corev1.HostPathBlockDev:
		ok, what = info.Mode()&os.ModeDevice != 0 && info.Mode()&os.ModeCharDevice == 0, "a block device"
	default:
		return fmt.Errorf("hostPath type check failed: unknown type %q", typ)
	}
	if !ok {
		return fmt.Errorf("hostPath type check failed: %s is not %s", p, what)
	}
	return nil
}

// setupVolumes materialises the pod's volumes and returns their host
// paths by volume name. It runs on every pod sync, which refreshes the
// content of configMap, secret, downwardAPI and projected volumes.
func (a *Agent) setupVolumes(ctx context.Context, pod *corev1.Pod, in envInput) (map[string]string, error) {
	paths := map[string]string{}
	var bundles []certificatesv1.ClusterTrustBundle
	if needsTrustBundles(pod) {
		list, err := a.cfg.Client.CertificatesV1().ClusterTrustBundles().List(ctx, metav1.ListOptions{})
		if err != nil {
			return nil, fmt.Errorf("list clustertrustbundles: %w", err)
		}
		bundles = list.Items
	}
	for i := range pod.Spec.Volumes {
		v := &pod.Spec.Volumes[i]
		if v.HostPath != nil {
			if err := checkHostPath(v.HostPath.Path, v.HostPath.Type); err != nil {
				return nil, fmt.Errorf("volume %s: %w", v.Name, err)
			}
			paths[v.Name] = v.HostPath.Path
			continue
		}
		if v.CSI != nil {
			p, err := a.mountCSI(ctx, pod, v, nil)
			if err != nil {
				return nil, err
			}
			paths[v.Name] = p
			continue
		}
		if _, _, ok := claimName(pod, v); ok {
			p, err := a.claimVolumePath(ctx, pod, v)
			if err != nil {
				return nil, err
			}
			paths[v.Name] = p
			continue
		}
		plugin := volumePlugin(v)
		if plugin == "" {
			continue
		}
		dir := filepath.Join(a.podDir(pod.UID), "volumes", plugin, v.Name)
		paths[v.Name] = dir
		if v.Image != nil {
			// Pulled and mounted when a container that mounts it starts
			// (ensureImageVolumes): one no container mounts is never
			// pulled, as upstream's pod with an unused bad image runs.
			continue
		}
		if v.EmptyDir != nil {
			if err := setupEmptyDir(dir, v.EmptyDir); err != nil {
				return nil, fmt.Errorf("volume %s: %w", v.Name, err)
			}
			if err := setVolumeOwnership(dir, pod.Spec.SecurityContext, false); err != nil {
				return nil, fmt.Errorf("volume %s: fsGroup: %w", v.Name, err)
			}
			continue
		}
		files, err := volumeFiles(ctx, pod, v, in, volumeSources{token: a.serviceAccountToken, bundles: bundles, podCert: a.podCertificate})
		if err != nil {
			// Upstream's FailedMount message; the pod stays ContainerCreating.
			return nil, fmt.Errorf("MountVolume.SetUp failed for volume %q : %w", v.Name, err)
		}
		if inMemory(v) {
			if err := mountTmpfs(dir); err != nil {
				return nil, fmt.Errorf("MountVolume.SetUp failed for volume %q : %w", v.Name, err)
			}
		}
		if err := writeAtomic(dir, files, a.cfg.Clock.Now()); err != nil {
			return nil, fmt.Errorf("volume %s: %w", v.Name, err)
		}
		// Projected content is read-only to the pod, as upstream mounts it.
		if err := setVolumeOwnership(dir, pod.Spec.SecurityContext, true); err != nil {
			return nil, fmt.Errorf("volume %s: fsGroup: %w", v.Name, err)
		}
	}
	return paths, nil
}

// setupEmptyDir creates an emptyDir, a tmpfs limited to sizeLimit for
// medium Memory.
func setupEmptyDir(dir string, ed *corev1.EmptyDirVolumeSource) error {
	if err := os.MkdirAll(dir, 0o777); err != nil {
		return err
	}
	if err := os.Chmod(dir, 0o777); err != nil {
		return err
	}
	if ed.Medium != corev1.StorageMediumMemory || isMountPoint(dir) {
		return nil
	}
	opts := "mode=0777"
	if ed.SizeLimit != nil && !ed.SizeLimit.IsZero() {
		opts += fmt.Sprintf(",size=%d", ed.SizeLimit.Value())
	}
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, opts); err != nil {
		return fmt.Errorf("mount tmpfs: %w", err)
	}
	return nil
}

// inMemory reports whether a volume's files live on tmpfs, never on the
// node's disk: Secrets and projected volumes (which carry service account
// tokens, Secrets and pod certificates), as upstream keeps them.
func inMemory(v *corev1.Volume) bool { return v.Secret != nil || v.Projected != nil }

// mountTmpfs makes dir a tmpfs, once.
func mountTmpfs(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if isMountPoint(dir) {
		return nil
	}
	if err := syscall.Mount("tmpfs", dir, "tmpfs", syscall.MS_NOSUID|syscall.MS_NODEV, "mode=0755"); err != nil {
		return fmt.Errorf("mount tmpfs: %w", err)
	}
	return nil
}

// isMountPoint reports whether dir is on another device than its parent.
func isMountPoint(dir string) bool {
	var st, pst syscall.Stat_t
	if syscall.Stat(dir, &st) != nil || syscall.Stat(filepath.Dir(dir), &pst) != nil {
		return false
	}
	return st.Dev != pst.Dev
}

// cleanupVolumes unmounts the pod's image volumes and its tmpfs volumes
// (memory-backed emptyDirs, Secrets, projected volumes) and removes its
// directory. hostPath volumes live elsewhere and are left alone.
func (a *Agent) cleanupVolumes(ctx context.Context, uid types.UID) error {
	if a.cfg.RootDir == "" {
		return nil
	}
	dir := a.podDir(uid)
	if err := a.teardownCSI(ctx, uid); err != nil {
		return err
	}
	if err := a.unmountImageVolumes(ctx, dir); err != nil {
		return fmt.Errorf("clean up volumes: %w", err)
	}
	for _, plugin := range []string{pluginEmptyDir, pluginSecret, pluginProjected} {
		pd := filepath.Join(dir, "volumes", plugin)
		entries, _ := os.ReadDir(pd)
		for _, e := range entries {
			p := filepath.Join(pd, e.Name())
			if isMountPoint(p) {
				if err := syscall.Unmount(p, 0); err != nil {
					return fmt.Errorf("clean up volumes: unmount %s: %w", p, err)
				}
			}
		}
	}
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("clean up volumes: %w", err)
	}
	a.mu.Lock()
	for k := range a.tokens {
		if k.uid == uid {
			delete(a.tokens, k)
		}
	}
	delete(a.claimsOwned, uid)
	a.mu.Unlock()
	return nil
}

// containerMounts are the runtime mounts of a container's volumeMounts.
// Volumes built from API objects and image volumes are always mounted
// read-only, as upstream.
// A subPathExpr is expanded over the container's environment; like a
// subPath it must stay inside its volume. It is pure.
func containerMounts(pod *corev1.Pod, c *corev1.Container, paths map[string]string, env []corev1.EnvVar) ([]Mount, error) {
	var out []Mount
	for _, vm := range c.VolumeMounts {
		host, ok := paths[vm.Name]
		if !ok {
			continue
		}
		ro := vm.ReadOnly
		for i := range pod.Spec.Volumes {
			v := &pod.Spec.Volumes[i]
			if v.Name == vm.Name && (v.ConfigMap != nil || v.Secret != nil || v.DownwardAPI != nil || v.Projected != nil || v.Image != nil) {
				ro = true
			}
			if v.Name == vm.Name && v.PersistentVolumeClaim != nil && v.PersistentVolumeClaim.ReadOnly {
				ro = true // the claim is mounted read-only everywhere in the pod
			}
		}
		sub := vm.SubPath
		if vm.SubPathExpr != "" {
			var err error
			if sub, err = expandSubPath(vm.SubPathExpr, env); err != nil {
				return nil, &configError{msg: fmt.Sprintf("failed to prepare subPath for volumeMount %q of container %q: %v", vm.Name, c.Name, err)}
			}
		}
		if sub != "" {
			if filepath.IsAbs(sub) {
				return nil, &configError{msg: fmt.Sprintf("error SubPath `%s` must not be an absolute path", sub)}
			}
			for _, part := range strings.Split(filepath.ToSlash(sub), "/") {
				if part == ".." {
					return nil, &configError{msg: fmt.Sprintf("unable to provision SubPath `%s`: must not contain '..'", sub)}
				}
			}
			host = filepath.Join(host, sub)
		}
		out = append(out, Mount{HostPath: host, ContainerPath: vm.MountPath, ReadOnly: ro, SubPath: sub})
	}
	return out, nil
}

// expandSubPath expands a subPathExpr's $(VAR) references over env, as
// upstream: a reference to a variable that is unset or empty is an error.
func expandSubPath(expr string, env []corev1.EnvVar) (string, error) {
	vars := make(map[string]string, len(env))
	for _, e := range env {
		vars[e.Name] = e.Value
	}
	var missing []string
	out := expandVars(expr, func(name string) (string, bool) {
		v, ok := vars[name]
		if !ok || v == "" {
			if !slices.Contains(missing, name) {
				missing = append(missing, name)
			}
		}
		return v, true
	})
	if len(missing) > 0 {
		sort.Strings(missing)
		return "", fmt.Errorf("missing value for %s", strings.Join(missing, ", "))
	}
	return out, nil
}

// ensureSubPaths creates the subPath folders that do not exist yet, with
// their volume's permissions, before the runtime would create them as
// root-only folders.
func ensureSubPaths(mounts []Mount) error {
	for _, m := range mounts {
		if m.SubPath == "" {
			continue
		}
		if _, err := os.Lstat(m.HostPath); err == nil || !os.IsNotExist(err) {
			continue
		}
		root := strings.TrimSuffix(m.HostPath, string(filepath.Separator)+filepath.Clean(m.SubPath))
		perm := os.FileMode(0o755)
		if fi, err := os.Stat(root); err == nil {
			perm = fi.Mode().Perm()
		}
		if err := os.MkdirAll(m.HostPath, perm); err != nil {
			return fmt.Errorf("create subPath %s: %w", m.SubPath, err)
		}
		// MkdirAll's mode passes through the umask.
		if err := os.Chmod(m.HostPath, perm); err != nil {
			return fmt.Errorf("create subPath %s: %w", m.SubPath, err)
		}
	}
	return nil
}

// tokenKey identifies one cached service account token.
type tokenKey struct {
	uid      types.UID
	audience string
	seconds  int64
}

type cachedToken struct {
	token          []byte
	issued, expiry time.Time
}

// serviceAccountToken returns a token bound to the pod from the
// TokenRequest API, cached until 80% of its lifetime passed, as upstream.
func (a *Agent) serviceAccountToken(ctx context.Context, pod *corev1.Pod, p *corev1.ServiceAccountTokenProjection) ([]byte, error) {
	secs := int64(3600)
	if p.ExpirationSeconds != nil {
		secs = *p.ExpirationSeconds
	}
	key := tokenKey{uid: pod.UID, audience: p.Audience, seconds: secs}
	now := a.cfg.Clock.Now()
	a.mu.Lock()
	c, ok := a.tokens[key]
	a.mu.Unlock()
	if ok && now.Before(c.issued.Add(c.expiry.Sub(c.issued)*8/10)) {
		return c.token, nil
	}
	sa := pod.Spec.ServiceAccountName
	if sa == "" {
		sa = "default"
	}
	req := &authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{
		ExpirationSeconds: ptr.To(secs),
		BoundObjectRef:    &authenticationv1.BoundObjectReference{Kind: "Pod", APIVersion: "v1", Name: pod.Name, UID: pod.UID},
	}}
	if p.Audience != "" {
		req.Spec.Audiences = []string{p.Audience}
	}
	tr, err := a.cfg.Client.CoreV1().ServiceAccounts(pod.Namespace).CreateToken(ctx, sa, req, metav1.CreateOptions{})
	if err != nil {
		return nil, fmt.Errorf("fetch token: %w", err)
	}
	exp := tr.Status.ExpirationTimestamp.Time
	if exp.IsZero() {
		exp = now.Add(time.Duration(secs) * time.Second)
	}
	a.mu.Lock()
	a.tokens[key] = cachedToken{token: []byte(tr.Status.Token), issued: now, expiry: exp}
	a.mu.Unlock()
	return []byte(tr.Status.Token), nil
}

// podObjectsFor gets the ConfigMaps and Secrets the pod's env and volumes
// refer to; missing ones are left out.
func (a *Agent) podObjectsFor(ctx context.Context, pod *corev1.Pod) (podObjects, error) {
	objs := podObjects{ConfigMaps: map[string]*corev1.ConfigMap{}, Secrets: map[string]*corev1.Secret{}}
	cms, secrets := referencedObjects(pod, a.cfg.RootDir != "")
	for _, n := range cms {
		cm, err := a.cfg.Client.CoreV1().ConfigMaps(pod.Namespace).Get(ctx, n, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			continue
		}
		if err != nil {
			return objs, fmt.Errorf("get configmap %s: %w", n, err)
		}
		objs.ConfigMaps[n] = cm
	}
	for _, n := range secrets {
		s, err := a.cfg.Client.CoreV1().Secrets(pod.Namespace).Get(ctx, n, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			continue
		}
		if err != nil {
			return objs, fmt.Errorf("get secret %s: %w", n, err)
		}
		objs.Secrets[n] = s
	}
	if a.cfg.RootDir != "" {
		// Only processes read an environment: simulated nodes skip this.
		svcs, err := a.podServices(ctx, pod)
		if err != nil {
			return objs, err
		}
		objs.Services = svcs
	}
	return objs, nil
}

// podServices are the Services of the pod's namespace (when its service
// links are on) and the API server's, for serviceEnv.
func (a *Agent) podServices(ctx context.Context, pod *corev1.Pod) ([]*corev1.Service, error) {
	var out []*corev1.Service
	master, err := a.cfg.Client.CoreV1().Services(metav1.NamespaceDefault).Get(ctx, masterService, metav1.GetOptions{})
	switch {
	case err == nil:
		out = append(out, master)
	case !apierrors.IsNotFound(err):
		return nil, fmt.Errorf("get service %s: %w", masterService, err)
	}
	if pod.Spec.EnableServiceLinks != nil && !*pod.Spec.EnableServiceLinks {
		return out, nil
	}
	list, err := a.cfg.Client.CoreV1().Services(pod.Namespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, fmt.Errorf("list services: %w", err)
	}
	for i := range list.Items {
		out = append(out, &list.Items[i])
	}
	return out, nil
}

// referencedObjects lists the ConfigMap and Secret names a pod's env
// refers to, and, when volumes is set (a node that runs containers), its
// volumes' and its imagePullSecrets.
func referencedObjects(pod *corev1.Pod, volumes bool) (configMaps, secrets []string) {
	seenC, seenS := map[string]bool{}, map[string]bool{}
	addC := func(n string) {
		if n != "" && !seenC[n] {
			seenC[n] = true
			configMaps = append(configMaps, n)
		}
	}
	addS := func(n string) {
		if n != "" && !seenS[n] {
			seenS[n] = true
			secrets = append(secrets, n)
		}
	}
	var all []corev1.Container
	all = append(all, pod.Spec.InitContainers...)
	all = append(all, pod.Spec.Containers...)
	for _, c := range all {
		for _, f := range c.EnvFrom {
			if f.ConfigMapRef != nil {
				addC(f.ConfigMapRef.Name)
			}
			if f.SecretRef != nil {
				addS(f.SecretRef.Name)
			}
		}
		for _, e := range c.Env {
			if e.ValueFrom == nil {
				continue
			}
			if r := e.ValueFrom.ConfigMapKeyRef; r != nil {
				addC(r.Name)
			}
			if r := e.ValueFrom.SecretKeyRef; r != nil {
				addS(r.Name)
			}
		}
	}
	if !volumes {
		return configMaps, secrets
	}
	for _, s := range pod.Spec.ImagePullSecrets {
		addS(s.Name)
	}
	for _, v := range pod.Spec.Volumes {
		switch {
		case v.ConfigMap != nil:
			addC(v.ConfigMap.Name)
		case v.Secret != nil:
			addS(v.Secret.SecretName)
		case v.Projected != nil:
			for _, s := range v.Projected.Sources {
				if s.ConfigMap != nil {
					addC(s.ConfigMap.Name)
				}
				if s.Secret != nil {
					addS(s.Secret.Name)
				}
			}
		}
	}
	return configMaps, secrets
}
