package agent

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	clocktesting "k8s.io/utils/clock/testing"
	"k8s.io/utils/ptr"
)

// readVolume returns what a container sees in dir: file contents by
// relative path, through the symlinks, without the ..* internals.
func readVolume(t *testing.T, dir string) map[string]string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), "..") {
			continue
		}
		// The trailing slash makes Walk enter a symlinked directory.
		err := filepath.Walk(filepath.Join(dir, e.Name())+"/", func(p string, info os.FileInfo, err error) error {
			if err != nil || info.IsDir() {
				return err
			}
			b, err := os.ReadFile(p)
			rel, _ := filepath.Rel(dir, p)
			out[rel] = string(b)
			return err
		})
		if err != nil {
			b, err := os.ReadFile(filepath.Join(dir, e.Name()))
			if err != nil {
				t.Fatal(err)
			}
			out[e.Name()] = string(b)
		}
	}
	return out
}

func TestWriteAtomic(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "vol")
	steps := []struct {
		files map[string]projectedFile
		want  map[string]string
	}{
		{
			files: map[string]projectedFile{"a": {Data: []byte("1"), Mode: 0o644}, "sub/b": {Data: []byte("2"), Mode: 0o600}},
			want:  map[string]string{"a": "1", "sub/b": "2"},
		},
		{
			files: map[string]projectedFile{"a": {Data: []byte("one"), Mode: 0o644}, "c": {Data: []byte("3"), Mode: 0o644}},
			want:  map[string]string{"a": "one", "c": "3"},
		},
	}
	for i, s := range steps {
		if err := writeAtomic(dir, s.files, t0); err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
		if d := cmp.Diff(s.want, readVolume(t, dir)); d != "" {
			t.Errorf("step %d: content (-want +got):\n%s", i, d)
		}
		target, err := os.Readlink(filepath.Join(dir, "..data"))
		if err != nil {
			t.Fatalf("step %d: ..data: %v", i, err)
		}
		if l, _ := os.Readlink(filepath.Join(dir, "a")); l != "..data/a" {
			t.Errorf("step %d: a links to %q, want ..data/a", i, l)
		}
		// Only ..data and its one timestamped directory remain.
		entries, _ := os.ReadDir(dir)
		var internal []string
		for _, e := range entries {
			if strings.HasPrefix(e.Name(), "..") {
				internal = append(internal, e.Name())
			}
		}
		want := []string{target, "..data"}
		sort.Strings(want)
		if d := cmp.Diff(want, internal); d != "" {
			t.Errorf("step %d: internal entries (-want +got):\n%s", i, d)
		}
	}
	// Unchanged content is not rewritten.
	before, _ := os.Readlink(filepath.Join(dir, "..data"))
	if err := writeAtomic(dir, steps[1].files, t0); err != nil {
		t.Fatal(err)
	}
	if after, _ := os.Readlink(filepath.Join(dir, "..data")); after != before {
		t.Errorf("..data moved from %s to %s on an unchanged write", before, after)
	}
}

func TestVolumeFiles(t *testing.T) {
	pod := testPod("p").containers("c").obj()
	pod.Spec.Containers[0].Resources.Limits = corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("1Gi")}
	in := envInput{Objects: podObjects{
		ConfigMaps: map[string]*corev1.ConfigMap{"cm": {Data: map[string]string{"k1": "v1", "k2": "v2"}, BinaryData: map[string][]byte{"bin": {0, 1}}}, "kube-root-ca.crt": {Data: map[string]string{"ca.crt": "CA"}}},
		Secrets:    map[string]*corev1.Secret{"s": {Data: map[string][]byte{"pw": []byte("x")}}},
	}}
	token := func(_ context.Context, _ *corev1.Pod, p *corev1.ServiceAccountTokenProjection) ([]byte, error) {
		return []byte("tok-" + p.Audience), nil
	}
	mode := func(m int32) *int32 { return &m }
	tests := []struct {
		name    string
		vol     corev1.VolumeSource
		want    map[string]projectedFile
		wantErr string
	}{
		{
			name: "configMap, all keys",
			vol:  corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: "cm"}}},
			want: map[string]projectedFile{"k1": {Data: []byte("v1"), Mode: 0o644}, "k2": {Data: []byte("v2"), Mode: 0o644}, "bin": {Data: []byte{0, 1}, Mode: 0o644}},
		},
		{
			name: "configMap items and modes",
			vol: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: "cm"}, DefaultMode: mode(0o600),
				Items: []corev1.KeyToPath{{Key: "k1", Path: "dir/one"}, {Key: "k2", Path: "two", Mode: mode(0o400)}}}},
			want: map[string]projectedFile{"dir/one": {Data: []byte("v1"), Mode: 0o600}, "two": {Data: []byte("v2"), Mode: 0o400}},
		},
		{
			name: "optional missing configMap is empty",
			vol:  corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: "gone"}, Optional: ptr.To(true)}},
			want: map[string]projectedFile{},
		},
		{
			name:    "missing configMap",
			vol:     corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: "gone"}}},
			wantErr: `configmap "gone" not found`,
		},
		{
			name:    "missing secret",
			vol:     corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "gone"}},
			wantErr: `secret "gone" not found`,
		},
		{
			name: "secret",
			vol:  corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "s"}},
			want: map[string]projectedFile{"pw": {Data: []byte("x"), Mode: 0o644}},
		},
		{
			name: "downwardAPI",
			vol: corev1.VolumeSource{DownwardAPI: &corev1.DownwardAPIVolumeSource{Items: []corev1.DownwardAPIVolumeFile{
				{Path: "name", FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.name"}},
				{Path: "mem", ResourceFieldRef: &corev1.ResourceFieldSelector{ContainerName: "c", Resource: "limits.memory", Divisor: resource.MustParse("1Mi")}},
			}}},
			want: map[string]projectedFile{"name": {Data: []byte("p"), Mode: 0o644}, "mem": {Data: []byte("1024"), Mode: 0o644}},
		},
		{
			name: "kube-api-access projected",
			vol: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{DefaultMode: mode(0o644), Sources: []corev1.VolumeProjection{
				{ServiceAccountToken: &corev1.ServiceAccountTokenProjection{ExpirationSeconds: ptr.To(int64(3607)), Path: "token"}},
				{ConfigMap: &corev1.ConfigMapProjection{LocalObjectReference: corev1.LocalObjectReference{Name: "kube-root-ca.crt"}, Items: []corev1.KeyToPath{{Key: "ca.crt", Path: "ca.crt"}}}},
				{DownwardAPI: &corev1.DownwardAPIProjection{Items: []corev1.DownwardAPIVolumeFile{{Path: "namespace", FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.namespace"}}}}},
			}}},
			want: map[string]projectedFile{"token": {Data: []byte("tok-"), Mode: 0o644}, "ca.crt": {Data: []byte("CA"), Mode: 0o644}, "namespace": {Data: []byte("default"), Mode: 0o644}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := volumeFiles(context.Background(), pod, &corev1.Volume{Name: "v", VolumeSource: tt.vol}, in, volumeSources{token: token})
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(tt.want, got); d != "" {
				t.Errorf("files (-want +got):\n%s", d)
			}
		})
	}
}

func TestCheckHostPath(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(dir, "s.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	tests := []struct {
		path    string
		typ     corev1.HostPathType
		wantErr bool
	}{
		{path: filepath.Join(dir, "nothing"), typ: corev1.HostPathUnset},
		{path: filepath.Join(dir, "new/dir"), typ: corev1.HostPathDirectoryOrCreate},
		{path: filepath.Join(dir, "new/file"), typ: corev1.HostPathFileOrCreate},
		{path: file, typ: corev1.HostPathDirectoryOrCreate, wantErr: true},
		{path: dir, typ: corev1.HostPathDirectory},
		{path: file, typ: corev1.HostPathDirectory, wantErr: true},
		{path: filepath.Join(dir, "absent"), typ: corev1.HostPathDirectory, wantErr: true},
		{path: file, typ: corev1.HostPathFile},
		{path: dir, typ: corev1.HostPathFile, wantErr: true},
		{path: sock, typ: corev1.HostPathSocket},
		{path: file, typ: corev1.HostPathSocket, wantErr: true},
		{path: file, typ: corev1.HostPathCharDev, wantErr: true},
	}
	for _, tt := range tests {
		err := checkHostPath(tt.path, &tt.typ)
		if (err != nil) != tt.wantErr {
			t.Errorf("checkHostPath(%s, %q) = %v, want error %v", tt.path, tt.typ, err, tt.wantErr)
		}
	}
	for _, p := range []string{filepath.Join(dir, "new/dir"), filepath.Join(dir, "new/file")} {
		if _, err := os.Stat(p); err != nil {
			t.Errorf("%s not created: %v", p, err)
		}
	}
}

func TestContainerMounts(t *testing.T) {
	pod := testPod("p").containers("c").obj()
	pod.Spec.Volumes = []corev1.Volume{
		{Name: "cfg", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{}}},
		{Name: "scratch", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
	}
	pod.Spec.Containers[0].VolumeMounts = []corev1.VolumeMount{
		{Name: "cfg", MountPath: "/etc/cfg"},
		{Name: "scratch", MountPath: "/data", SubPath: "x"},
		{Name: "scratch", MountPath: "/ro", ReadOnly: true},
	}
	paths := map[string]string{"cfg": "/root/pods/u/volumes/kubernetes.io~configmap/cfg", "scratch": "/root/pods/u/volumes/kubernetes.io~empty-dir/scratch"}
	want := []Mount{
		{HostPath: "/root/pods/u/volumes/kubernetes.io~configmap/cfg", ContainerPath: "/etc/cfg", ReadOnly: true},
		{HostPath: "/root/pods/u/volumes/kubernetes.io~empty-dir/scratch/x", ContainerPath: "/data", SubPath: "x"},
		{HostPath: "/root/pods/u/volumes/kubernetes.io~empty-dir/scratch", ContainerPath: "/ro", ReadOnly: true},
	}
	got, err := containerMounts(pod, &pod.Spec.Containers[0], paths, nil)
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("mounts (-want +got):\n%s", d)
	}
}

func TestSubPathExpr(t *testing.T) {
	env := []corev1.EnvVar{{Name: "POD_NAME", Value: "foo"}, {Name: "ANNOTATION", Value: "mypath"}, {Name: "EMPTY"}}
	paths := map[string]string{"w": "/v/w"}
	tests := []struct {
		name, expr, subPath string
		wantPath, wantErr   string
	}{
		{name: "expanded", expr: "$(ANNOTATION)/$(POD_NAME)", wantPath: "/v/w/mypath/foo"},
		{name: "plain subPath", subPath: "a/b", wantPath: "/v/w/a/b"},
		{name: "unset variable", expr: "$(MISSING)/$(POD_NAME)", wantErr: `failed to prepare subPath for volumeMount "w" of container "c": missing value for MISSING`},
		{name: "empty variable", expr: "$(EMPTY)/x", wantErr: "missing value for EMPTY"},
		{name: "absolute", subPath: "/etc", wantErr: "must not be an absolute path"},
		{name: "back steps", expr: "$(POD_NAME)/../..", wantErr: "must not contain '..'"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pod := testPod("p").containers("c").obj()
			pod.Spec.Containers[0].VolumeMounts = []corev1.VolumeMount{{Name: "w", MountPath: "/m", SubPath: tt.subPath, SubPathExpr: tt.expr}}
			got, err := containerMounts(pod, &pod.Spec.Containers[0], paths, env)
			if tt.wantErr != "" {
				var ce *configError
				if !errors.As(err, &ce) || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want a configuration error with %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || len(got) != 1 || got[0].HostPath != tt.wantPath {
				t.Fatalf("mounts %+v, %v; want host path %s", got, err, tt.wantPath)
			}
		})
	}
}

func TestEnsureSubPaths(t *testing.T) {
	vol := filepath.Join(t.TempDir(), "vol")
	if err := os.Mkdir(vol, 0o777); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(vol, 0o777); err != nil {
		t.Fatal(err)
	}
	m := Mount{HostPath: filepath.Join(vol, "a/b"), SubPath: "a/b"}
	if err := ensureSubPaths([]Mount{m}); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(m.HostPath)
	if err != nil || !fi.IsDir() || fi.Mode().Perm() != 0o777 {
		t.Fatalf("subPath folder %v %v, want a folder with the volume's mode 0777", fi, err)
	}
}

func TestMemoryEmptyDirCleanup(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("mounting tmpfs needs root")
	}
	a := &Agent{cfg: Config{RootDir: t.TempDir()}, tokens: map[tokenKey]cachedToken{}}
	dir := filepath.Join(a.podDir("u1"), "volumes", pluginEmptyDir, "mem")
	limit := resource.MustParse("1Mi")
	if err := setupEmptyDir(dir, &corev1.EmptyDirVolumeSource{Medium: corev1.StorageMediumMemory, SizeLimit: &limit}); err != nil {
		t.Skipf("no tmpfs here: %v", err)
	}
	t.Cleanup(func() { _ = syscall.Unmount(dir, 0) })
	if !isMountPoint(dir) {
		t.Fatal("memory emptyDir is not a mount point")
	}
	// Setting up again (every resync) does not mount twice.
	if err := setupEmptyDir(dir, &corev1.EmptyDirVolumeSource{Medium: corev1.StorageMediumMemory, SizeLimit: &limit}); err != nil {
		t.Fatal(err)
	}
	if err := a.cleanupVolumes(context.Background(), "u1"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(a.podDir("u1")); !os.IsNotExist(err) {
		t.Errorf("pod dir still there: %v", err)
	}
}

// TestSecretVolumesOnTmpfs checks that Secret and projected volumes are
// written to tmpfs, never to the node's disk, and configMap volumes to
// disk, as upstream; and that the tmpfs mounts go with the pod.
func TestSecretVolumesOnTmpfs(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("mounting tmpfs needs root")
	}
	a := &Agent{cfg: Config{RootDir: t.TempDir(), Clock: clocktesting.NewFakeClock(time.Now())}, tokens: map[tokenKey]cachedToken{}}
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "ns", UID: "u2"}, Spec: corev1.PodSpec{Volumes: []corev1.Volume{
		{Name: "s", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "sec"}}},
		{Name: "p", VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{Sources: []corev1.VolumeProjection{
			{Secret: &corev1.SecretProjection{LocalObjectReference: corev1.LocalObjectReference{Name: "sec"}}}}}}},
		{Name: "c", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: "cm"}}}},
	}}}
	in := envInput{Objects: podObjects{
		Secrets:    map[string]*corev1.Secret{"sec": {Data: map[string][]byte{"password": []byte("hunter2")}}},
		ConfigMaps: map[string]*corev1.ConfigMap{"cm": {Data: map[string]string{"k": "v"}}},
	}}
	paths, err := a.setupVolumes(context.Background(), pod, in)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		for _, p := range paths {
			_ = syscall.Unmount(p, 0)
		}
	})
	for name, wantTmpfs := range map[string]bool{"s": true, "p": true, "c": false} {
		var st syscall.Statfs_t
		if err := syscall.Statfs(paths[name], &st); err != nil {
			t.Fatal(err)
		}
		const tmpfsMagic = 0x01021994
		if onTmpfs := st.Type == tmpfsMagic; onTmpfs != wantTmpfs {
			t.Errorf("volume %s on tmpfs: %v, want %v", name, onTmpfs, wantTmpfs)
		}
	}
	if b, err := os.ReadFile(filepath.Join(paths["s"], "password")); err != nil || string(b) != "hunter2" {
		t.Errorf("secret file: %q %v", b, err)
	}
	// A resync mounts nothing twice.
	if _, err := a.setupVolumes(context.Background(), pod, in); err != nil {
		t.Fatal(err)
	}
	if err := a.cleanupVolumes(context.Background(), "u2"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(a.podDir("u2")); !os.IsNotExist(err) {
		t.Errorf("pod dir still there: %v", err)
	}
}
