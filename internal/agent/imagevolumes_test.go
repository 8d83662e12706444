package agent

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
)

func TestImageVolumePullPolicy(t *testing.T) {
	tests := []struct {
		src  corev1.ImageVolumeSource
		want corev1.PullPolicy
	}{
		{corev1.ImageVolumeSource{Reference: "kitten"}, corev1.PullAlways},
		{corev1.ImageVolumeSource{Reference: "kitten:latest"}, corev1.PullAlways},
		{corev1.ImageVolumeSource{Reference: "kitten:1.7"}, corev1.PullIfNotPresent},
		{corev1.ImageVolumeSource{Reference: "kitten@sha256:abcd"}, corev1.PullIfNotPresent},
		{corev1.ImageVolumeSource{Reference: "kitten", PullPolicy: corev1.PullNever}, corev1.PullNever},
	}
	for _, tt := range tests {
		if got := imageVolumePullPolicy(&tt.src); got != tt.want {
			t.Errorf("imageVolumePullPolicy(%+v) = %s, want %s", tt.src, got, tt.want)
		}
	}
}

func TestFullImageRef(t *testing.T) {
	const digest = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
	tests := map[string]string{
		"kitten":     "docker.io/library/kitten:latest",
		"user/app:1": "docker.io/user/app:1",
		"registry.k8s.io/e2e-test-images/kitten:1.7": "registry.k8s.io/e2e-test-images/kitten:1.7",
		"localhost:5000/app":                         "localhost:5000/app:latest",
		"app:1@" + digest:                            "docker.io/library/app@" + digest,
		"Not/A/Valid:ref:x":                          "Not/A/Valid:ref:x",
	}
	for in, want := range tests {
		if got := fullImageRef(in); got != want {
			t.Errorf("fullImageRef(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestContainerImageVolumes(t *testing.T) {
	pod := testPod("p").containers("a", "b").obj()
	pod.Spec.Volumes = []corev1.Volume{
		{Name: "img", VolumeSource: corev1.VolumeSource{Image: &corev1.ImageVolumeSource{Reference: "data:1"}}},
		{Name: "scratch", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
		{Name: "other", VolumeSource: corev1.VolumeSource{Image: &corev1.ImageVolumeSource{Reference: "other:1"}}},
	}
	pod.Spec.Containers[0].VolumeMounts = []corev1.VolumeMount{
		{Name: "scratch", MountPath: "/s"}, {Name: "img", MountPath: "/a"}, {Name: "img", MountPath: "/b", SubPath: "etc"},
	}
	var got []string
	for _, v := range containerImageVolumes(pod, &pod.Spec.Containers[0]) {
		got = append(got, v.Name)
	}
	if diff := cmp.Diff([]string{"img"}, got); diff != "" {
		t.Errorf("image volumes of a (-want +got):\n%s", diff)
	}
	if vs := containerImageVolumes(pod, &pod.Spec.Containers[1]); len(vs) != 0 {
		t.Errorf("b mounts nothing, got %d image volumes", len(vs))
	}
	// Image volumes are read-only, whatever the volumeMount says.
	mounts, err := containerMounts(pod, &pod.Spec.Containers[0], map[string]string{"img": "/v/img", "scratch": "/v/s"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := []Mount{
		{HostPath: "/v/s", ContainerPath: "/s"},
		{HostPath: "/v/img", ContainerPath: "/a", ReadOnly: true},
		{HostPath: "/v/img/etc", ContainerPath: "/b", ReadOnly: true, SubPath: "etc"},
	}
	if diff := cmp.Diff(want, mounts); diff != "" {
		t.Errorf("mounts (-want +got):\n%s", diff)
	}
}

// TestImageSubPaths: a subPath into an image follows the image's
// symlinks within the image, never onto the node's own files.
func TestImageSubPaths(t *testing.T) {
	root := t.TempDir()
	img := filepath.Join(root, "img")
	for _, d := range []string{"etc/ssl", "usr/share"} {
		if err := os.MkdirAll(filepath.Join(img, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	links := map[string]string{
		"certs":       "/etc/ssl",    // absolute: from the image's root
		"share":       "usr/share",   // relative
		"escape":      "../../../..", // cannot climb above the image
		"hostetc":     "/../../etc",  // nor from its root
		"loop":        "loop",        // never resolves
		"etc/up":      "..",          // back to the image's root
		"dangling":    "/nothing",    // to what the image lacks
		"usr/share/x": "../../etc",   // relative, through directories
	}
	for l, target := range links {
		if err := os.Symlink(target, filepath.Join(img, l)); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		sub     string
		want    string
		wantErr bool
	}{
		{sub: "etc", want: img + "/etc"},
		{sub: "etc/ssl", want: img + "/etc/ssl"},
		{sub: "certs", want: img + "/etc/ssl"},
		{sub: "share", want: img + "/usr/share"},
		{sub: "escape", want: img},
		{sub: "hostetc", want: img + "/etc"},
		{sub: "etc/up/usr", want: img + "/usr"},
		{sub: "usr/share/x/ssl", want: img + "/etc/ssl"},
		{sub: "not-existing", wantErr: true},
		{sub: "dangling", wantErr: true},
		{sub: "no/such/dir", wantErr: true},
		{sub: "loop", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.sub, func(t *testing.T) {
			pod := testPod("p").containers("c").obj()
			pod.Spec.Volumes = []corev1.Volume{{Name: "img", VolumeSource: corev1.VolumeSource{Image: &corev1.ImageVolumeSource{Reference: "data:1"}}}}
			c := &pod.Spec.Containers[0]
			c.VolumeMounts = []corev1.VolumeMount{{Name: "img", MountPath: "/m", SubPath: tt.sub}}
			paths := map[string]string{"img": img}
			mounts, err := containerMounts(pod, c, paths, nil)
			if err != nil {
				t.Fatal(err)
			}
			err = imageSubPaths(pod, c, paths, mounts)
			if tt.wantErr {
				var ce *createError
				if !errors.As(err, &ce) {
					t.Fatalf("imageSubPaths = %v, want a createError", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if mounts[0].HostPath != tt.want {
				t.Errorf("host path = %s, want %s", mounts[0].HostPath, tt.want)
			}
		})
	}
}

func TestImagesInUseKeepsImageVolumes(t *testing.T) {
	pod := testPod("p").containers("c").obj()
	pod.Spec.Volumes = []corev1.Volume{{Name: "img", VolumeSource: corev1.VolumeSource{Image: &corev1.ImageVolumeSource{Reference: "kitten:1.7"}}}}
	in := imagesInUse([]Container{{ImageRef: "sha256:c", Image: "busybox"}}, imageVolumeRefs([]*corev1.Pod{pod}))
	want := map[string]bool{"sha256:c": true, "busybox": true, "docker.io/library/kitten:1.7": true}
	if diff := cmp.Diff(want, in); diff != "" {
		t.Errorf("in use (-want +got):\n%s", diff)
	}
}

func TestUnescapeMountPath(t *testing.T) {
	tests := map[string]string{
		`/var/lib/a`:          "/var/lib/a",
		`/var/lib/with\040sp`: "/var/lib/with sp",
		`/tab\011x\134y`:      "/tab\tx\\y",
		`/short\04`:           `/short\04`,
	}
	for in, want := range tests {
		if got := unescapeMountPath(in); got != want {
			t.Errorf("unescapeMountPath(%q) = %q, want %q", in, got, want)
		}
	}
}
