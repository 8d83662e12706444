package integration

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"

	"skiff/internal/agent"
	"skiff/internal/agent/sim"
	"skiff/internal/server/servertest"
)

// fakeMounter stands in for containerd's image mounts: it lays an image's
// files out in the folder and remembers what is mounted where.
type fakeMounter struct {
	mu      sync.Mutex
	mounted map[string]string // dir -> image
	// unmounted lists the folders UnmountImage was called for.
	unmounted []string
	// fail makes mounts of an image fail.
	fail map[string]error
}

func (m *fakeMounter) MountImage(_ context.Context, image, dir string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.fail[image]; err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Join(dir, "etc"), 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "etc", "os-release"), []byte(image), 0o644); err != nil {
		return err
	}
	m.mounted[dir] = image
	return nil
}

func (m *fakeMounter) UnmountImage(_ context.Context, dir string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.mounted, dir)
	m.unmounted = append(m.unmounted, dir)
	return nil
}

func (m *fakeMounter) at(dir string) (string, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	img, ok := m.mounted[dir]
	return img, ok
}

func (m *fakeMounter) wasUnmounted(dir string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, d := range m.unmounted {
		if d == dir {
			return true
		}
	}
	return false
}

// runVolumeAgent runs an agent on the sim runtime that sets up volumes
// under rootDir and mounts images with mounter (none when nil).
func runVolumeAgent(t *testing.T, client kubernetes.Interface, name, rootDir string, mounter agent.ImageMounter) *sim.Runtime {
	t.Helper()
	rt, err := sim.New(sim.Config{})
	if err != nil {
		t.Fatal(err)
	}
	a, err := agent.New(agent.Config{
		NodeName: name, Client: client, Runtime: rt,
		NodeIPs:            []string{"192.0.2.11"},
		LeaseDuration:      2 * time.Second,
		LeaseRenewInterval: 200 * time.Millisecond,
		RootDir:            rootDir,
		ImageMounter:       mounter,
		Logger:             servertest.Logger(),
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("agent run: %v", err)
		}
	})
	return rt
}

// imageVolumePod runs one container that mounts the image volume "data"
// (reference ref) at /data, with subPath sub; its pod also has an image
// volume no container mounts, whose image cannot be pulled.
func imageVolumePod(name, node, ref, sub string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default"},
		Spec: corev1.PodSpec{
			NodeName:                      node,
			TerminationGracePeriodSeconds: ptr.To(int64(1)),
			// No token volume: the test server runs no controllers, so
			// no service account.
			AutomountServiceAccountToken: ptr.To(false),
			Containers: []corev1.Container{{
				Name: "main", Image: "busybox:1",
				VolumeMounts: []corev1.VolumeMount{{Name: "data", MountPath: "/data", SubPath: sub}},
			}},
			Volumes: []corev1.Volume{
				{Name: "data", VolumeSource: corev1.VolumeSource{Image: &corev1.ImageVolumeSource{Reference: ref}}},
				{Name: "unused", VolumeSource: corev1.VolumeSource{Image: &corev1.ImageVolumeSource{Reference: "registry.example/unpullable:1"}}},
			},
		},
	}
}

// waiting returns the main container's waiting reason and message.
func waiting(p *corev1.Pod) (string, string) {
	cs := p.Status.ContainerStatuses
	if len(cs) != 1 || cs[0].State.Waiting == nil {
		return "", ""
	}
	return cs[0].State.Waiting.Reason, cs[0].State.Waiting.Message
}

// TestImageVolumes checks what a user sees of image volumes: the image is
// pulled and mounted under the pod's folder when a container mounts it
// (an unused one with a bad image is never pulled), a failed pull keeps
// the container in ErrImagePull or ImagePullBackOff until it works, a
// missing subPath or a failed mount in CreateContainerError, and the
// mount goes with the pod.
func TestImageVolumes(t *testing.T) {
	client := servertest.Start(t, nil).Client
	root := t.TempDir()
	m := &fakeMounter{mounted: map[string]string{}, fail: map[string]error{"registry.example/broken:1": errors.New("no such snapshot")}}
	rt := runVolumeAgent(t, client, "node-iv", root, m)
	rt.FailPulls("registry.example/unpullable:1", errors.New("registry unreachable"))
	volDir := func(uid types.UID, name string) string {
		return filepath.Join(root, "pods", string(uid), "volumes", "kubernetes.io~image", name)
	}
	ready := func(p *corev1.Pod) bool {
		return p.Status.Phase == corev1.PodRunning && podCondition(p, corev1.PodReady) == corev1.ConditionTrue
	}

	t.Run("mounted", func(t *testing.T) {
		p := createPod(t, client, imageVolumePod("kitten", "node-iv", "kitten", "etc"))
		waitPod(t, client, "kitten", "Ready", ready)
		// A reference without a tag is Docker Hub's, at latest.
		if img, ok := m.at(volDir(p.UID, "data")); !ok || img != "docker.io/library/kitten:latest" {
			t.Errorf("image mounted at the volume's folder = %q, %v; want docker.io/library/kitten:latest", img, ok)
		}
		if _, ok := m.at(volDir(p.UID, "unused")); ok {
			t.Error("the image volume no container mounts was mounted")
		}
		if err := client.CoreV1().Pods("default").Delete(context.Background(), "kitten", metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		servertest.Wait(t, "image volume unmounted and the pod's folder removed", func(context.Context) (bool, error) {
			_, err := os.Stat(filepath.Join(root, "pods", string(p.UID)))
			return m.wasUnmounted(volDir(p.UID, "data")) && os.IsNotExist(err), nil
		})
	})

	t.Run("pull fails, then works", func(t *testing.T) {
		const image = "registry.example/late:1"
		rt.FailPulls(image, errors.New("registry unreachable"))
		createPod(t, client, imageVolumePod("late", "node-iv", image, ""))
		waitPod(t, client, "late", "waiting for its volume's image", func(p *corev1.Pod) bool {
			r, _ := waiting(p)
			return r == agent.ReasonErrImagePull || r == agent.ReasonImagePullBackOff
		})
		rt.FailPulls(image, nil)
		waitPod(t, client, "late", "Ready once the image pulls", ready)
	})

	t.Run("missing subPath", func(t *testing.T) {
		createPod(t, client, imageVolumePod("nosub", "node-iv", "registry.example/data:1", "not-existing"))
		waitPod(t, client, "nosub", "in CreateContainerError", func(p *corev1.Pod) bool {
			r, _ := waiting(p)
			return r == agent.ReasonCreateContainerError
		})
	})

	t.Run("mount fails", func(t *testing.T) {
		createPod(t, client, imageVolumePod("broken", "node-iv", "registry.example/broken:1", ""))
		p := waitPod(t, client, "broken", "in CreateContainerError", func(p *corev1.Pod) bool {
			r, _ := waiting(p)
			return r == agent.ReasonCreateContainerError
		})
		if _, msg := waiting(p); msg != `failed to mount image volume "data": no such snapshot` {
			t.Errorf("waiting message = %q", msg)
		}
	})

	t.Run("never pulled", func(t *testing.T) {
		pod := imageVolumePod("never", "node-iv", "registry.example/unpullable:1", "")
		pod.Spec.Volumes[0].Image.PullPolicy = corev1.PullNever
		createPod(t, client, pod)
		waitPod(t, client, "never", "in ErrImageNeverPull", func(p *corev1.Pod) bool {
			r, _ := waiting(p)
			return r == agent.ReasonErrImageNeverPull
		})
	})
}

// TestImageVolumesWithoutMounter: a node that cannot mount images says
// so in the container's status.
func TestImageVolumesWithoutMounter(t *testing.T) {
	client := servertest.Start(t, nil).Client
	runVolumeAgent(t, client, "node-nm", t.TempDir(), nil)
	createPod(t, client, imageVolumePod("nm", "node-nm", "registry.example/data:1", ""))
	p := waitPod(t, client, "nm", "in CreateContainerError", func(p *corev1.Pod) bool {
		r, _ := waiting(p)
		return r == agent.ReasonCreateContainerError
	})
	if _, msg := waiting(p); msg != `failed to mount image volume "data": this node cannot mount images` {
		t.Errorf("waiting message = %q", msg)
	}
}
