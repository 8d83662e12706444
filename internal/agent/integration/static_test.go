package integration

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"

	"skiff/internal/agent"
	"skiff/internal/agent/sim"
	"skiff/internal/server/servertest"
)

// startSimAgent runs one agent on rt until the returned stop is called
// (or the test ends).
func startSimAgent(t *testing.T, client kubernetes.Interface, name string, rt *sim.Runtime, manifests string) (stop func()) {
	t.Helper()
	a, err := agent.New(agent.Config{
		NodeName: name, Client: client, Runtime: rt,
		NodeIPs:              []string{"192.0.2.10"},
		LeaseDuration:        2 * time.Second,
		LeaseRenewInterval:   200 * time.Millisecond,
		PodManifestPath:      manifests,
		ManifestScanInterval: 100 * time.Millisecond,
		Logger:               servertest.Logger(),
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	stopped := false
	stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		if err := <-done; err != nil {
			t.Errorf("agent run: %v", err)
		}
	}
	t.Cleanup(stop)
	return stop
}

const staticManifest = `apiVersion: v1
kind: Pod
metadata:
  name: web
  namespace: kube-system
  labels: {tier: static}
spec:
  containers:
  - name: main
    image: busybox:IMAGE_TAG
`

func writeManifest(t *testing.T, dir, tag string) {
	t.Helper()
	data := []byte(staticManifest[:len(staticManifest)-len("IMAGE_TAG\n")] + tag + "\n")
	// Written next to the folder and renamed in, as a careful user would.
	tmp := filepath.Join(filepath.Dir(dir), "web.yaml.tmp")
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, "web.yaml")); err != nil {
		t.Fatal(err)
	}
}

func podsOf(t *testing.T, rt *sim.Runtime, uid types.UID) ([]agent.Sandbox, []agent.Container) {
	t.Helper()
	sbs, err := rt.ListPodSandboxes(context.Background(), uid)
	if err != nil {
		t.Fatal(err)
	}
	cs, err := rt.ListContainers(context.Background(), uid)
	if err != nil {
		t.Fatal(err)
	}
	return sbs, cs
}

// TestStaticPods runs a static pod from a manifest folder: its mirror pod
// shows it (Running, owned by the Node), comes back when deleted while the
// pod keeps running, follows a changed manifest, and goes with the file.
func TestStaticPods(t *testing.T) {
	s := servertest.Start(t, nil)
	client := s.Client
	dir := filepath.Join(t.TempDir(), "manifests")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	writeManifest(t, dir, "1")
	rt, err := sim.New(sim.Config{})
	if err != nil {
		t.Fatal(err)
	}
	startSimAgent(t, s.NodeClient(t, "node-s"), "node-s", rt, dir)
	pods := client.CoreV1().Pods("kube-system")
	var mirror *corev1.Pod
	servertest.Wait(t, "mirror pod Running", func(ctx context.Context) (bool, error) {
		p, err := pods.Get(ctx, "web-node-s", metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return false, nil
		}
		mirror = p
		return err == nil && p.Status.Phase == corev1.PodRunning && podCondition(p, corev1.PodReady) == corev1.ConditionTrue, err
	})
	hash := mirror.Annotations[corev1.MirrorPodAnnotationKey]
	if hash == "" || mirror.Annotations[agent.AnnotationConfigHash] != hash || mirror.Annotations[agent.AnnotationConfigSource] != "file" || mirror.UID == types.UID(hash) {
		t.Fatalf("mirror pod annotations %v uid %s", mirror.Annotations, mirror.UID)
	}
	if or := mirror.OwnerReferences; len(or) != 1 || or[0].Kind != "Node" || or[0].Name != "node-s" || or[0].UID == "" {
		t.Errorf("mirror pod owner references %+v, want the Node", or)
	}
	if mirror.Spec.NodeName != "node-s" || mirror.Labels["tier"] != "static" {
		t.Errorf("mirror pod node %q labels %v", mirror.Spec.NodeName, mirror.Labels)
	}
	staticUID := types.UID(hash)
	sbs, cs := podsOf(t, rt, staticUID)
	if len(sbs) != 1 || len(cs) != 1 {
		t.Fatalf("static pod runs %d sandboxes, %d containers; want 1, 1", len(sbs), len(cs))
	}

	// Deleting the mirror pod (gracefully, as kubectl does) brings it back;
	// the static pod is not touched.
	if err := pods.Delete(context.Background(), "web-node-s", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	servertest.Wait(t, "mirror pod back", func(ctx context.Context) (bool, error) {
		p, err := pods.Get(ctx, "web-node-s", metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return false, nil
		}
		return err == nil && p.UID != mirror.UID && p.DeletionTimestamp == nil && p.Status.Phase == corev1.PodRunning, err
	})
	sbs2, cs2 := podsOf(t, rt, staticUID)
	if len(sbs2) != 1 || sbs2[0].ID != sbs[0].ID || len(cs2) != 1 || cs2[0].ID != cs[0].ID {
		t.Errorf("the static pod changed when its mirror was deleted: %v %v, was %v %v", sbs2, cs2, sbs, cs)
	}

	// A changed manifest replaces the pod: new hash, new mirror, the old
	// pod's sandbox gone.
	writeManifest(t, dir, "2")
	var newHash string
	servertest.Wait(t, "mirror pod of the new manifest Running", func(ctx context.Context) (bool, error) {
		p, err := pods.Get(ctx, "web-node-s", metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return false, nil
		}
		newHash = p.Annotations[corev1.MirrorPodAnnotationKey]
		return err == nil && newHash != hash && p.Spec.Containers[0].Image == "busybox:2" && p.Status.Phase == corev1.PodRunning, err
	})
	servertest.Wait(t, "old static pod removed", func(context.Context) (bool, error) {
		sbs, cs := podsOf(t, rt, staticUID)
		return len(sbs) == 0 && len(cs) == 0, nil
	})

	// Removing the file stops the pod and deletes its mirror.
	if err := os.Remove(filepath.Join(dir, "web.yaml")); err != nil {
		t.Fatal(err)
	}
	servertest.Wait(t, "mirror pod gone", func(ctx context.Context) (bool, error) {
		_, err := pods.Get(ctx, "web-node-s", metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return true, nil
		}
		return false, err
	})
	servertest.Wait(t, "static pod removed", func(context.Context) (bool, error) {
		sbs, cs := podsOf(t, rt, types.UID(newHash))
		return len(sbs) == 0 && len(cs) == 0, nil
	})
}

// TestMirrorPodAdmission checks that the API refuses mirror pods that
// refer to API objects, and admits plain ones untouched by the service
// account admission.
func TestMirrorPodAdmission(t *testing.T) {
	client := servertest.Start(t, nil).Client
	pods := client.CoreV1().Pods("default")
	mk := func(name string, mutate func(*corev1.Pod)) *corev1.Pod {
		p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Annotations: map[string]string{corev1.MirrorPodAnnotationKey: "h"}},
			Spec: corev1.PodSpec{NodeName: "n", Containers: []corev1.Container{{Name: "c", Image: "busybox"}}}}
		if mutate != nil {
			mutate(p)
		}
		return p
	}
	ok, err := pods.Create(context.Background(), mk("plain", nil), metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("plain mirror pod refused: %v", err)
	}
	if ok.Spec.ServiceAccountName != "" || len(ok.Spec.Volumes) != 0 {
		t.Errorf("mirror pod got a service account %q or volumes %v", ok.Spec.ServiceAccountName, ok.Spec.Volumes)
	}
	for name, mutate := range map[string]func(*corev1.Pod){
		"sa": func(p *corev1.Pod) { p.Spec.ServiceAccountName = "default" },
		"secret": func(p *corev1.Pod) {
			p.Spec.Volumes = []corev1.Volume{{Name: "s", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "x"}}}}
		},
		"cm-env": func(p *corev1.Pod) {
			p.Spec.Containers[0].Env = []corev1.EnvVar{{Name: "A", ValueFrom: &corev1.EnvVarSource{ConfigMapKeyRef: &corev1.ConfigMapKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "x"}, Key: "k", Optional: ptr.To(true)}}}}
		},
	} {
		_, err := pods.Create(context.Background(), mk(name, mutate), metav1.CreateOptions{})
		if !apierrors.IsForbidden(err) {
			t.Errorf("mirror pod %s: got %v, want Forbidden", name, err)
		}
	}
}

// TestOrphanSweep restarts an agent after one of its pods was deleted
// from the API while it was down: the new agent removes what the pod left
// in the runtime, and leaves the pod that still exists alone.
func TestOrphanSweep(t *testing.T) {
	s := servertest.Start(t, nil)
	client := s.Client
	node := s.NodeClient(t, "node-o")
	rt, err := sim.New(sim.Config{})
	if err != nil {
		t.Fatal(err)
	}
	stop := startSimAgent(t, node, "node-o", rt, "")
	gone := createPod(t, client, busyboxPod("gone", "node-o").RestartPolicy(corev1.RestartPolicyAlways).Obj())
	kept := createPod(t, client, busyboxPod("kept", "node-o").RestartPolicy(corev1.RestartPolicyAlways).Obj())
	for _, name := range []string{"gone", "kept"} {
		waitPod(t, client, name, "Running", func(p *corev1.Pod) bool { return p.Status.Phase == corev1.PodRunning })
	}
	stop()
	if err := client.CoreV1().Pods("default").Delete(context.Background(), "gone", metav1.DeleteOptions{GracePeriodSeconds: ptr.To(int64(0))}); err != nil {
		t.Fatal(err)
	}
	keptSbs, _ := podsOf(t, rt, kept.UID)
	startSimAgent(t, node, "node-o", rt, "")
	servertest.Wait(t, "the deleted pod's sandbox removed", func(context.Context) (bool, error) {
		sbs, cs := podsOf(t, rt, gone.UID)
		return len(sbs) == 0 && len(cs) == 0, nil
	})
	sbs, _ := podsOf(t, rt, kept.UID)
	if len(sbs) != 1 || sbs[0].ID != keptSbs[0].ID || sbs[0].State != agent.SandboxReady {
		t.Errorf("the pod that still exists: sandboxes %v, was %v", sbs, keptSbs)
	}
}
