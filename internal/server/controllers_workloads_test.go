package server_test

import (
	"context"
	"fmt"
	"sync"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"

	"skiff/internal/server/servertest"
)

func TestReplicationController(t *testing.T) {
	cp := startControllers(t)
	startFakeKubelet(t, cp.client, "node-1", 1)
	ctx := context.Background()
	const ns = "rc"
	createNamespace(t, cp.client, ns)
	two := int32(2)
	tmpl := podTemplate("legacy", "busybox")
	rc := &corev1.ReplicationController{
		ObjectMeta: metav1.ObjectMeta{Name: "legacy", Namespace: ns},
		Spec:       corev1.ReplicationControllerSpec{Replicas: &two, Selector: map[string]string{"app": "legacy"}, Template: &tmpl},
	}
	if _, err := cp.client.CoreV1().ReplicationControllers(ns).Create(ctx, rc, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	servertest.Wait(t, "two ready pods owned by the ReplicationController", func(context.Context) (bool, error) {
		got, err := cp.client.CoreV1().ReplicationControllers(ns).Get(ctx, "legacy", metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		pods, err := cp.client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, err
		}
		owned := 0
		for _, p := range pods.Items {
			if ref := metav1.GetControllerOf(&p); ref != nil && ref.Kind == "ReplicationController" && ref.UID == got.UID {
				owned++
			}
		}
		st := got.Status
		return owned == 2 && st.Replicas == 2 && st.ReadyReplicas == 2 && st.AvailableReplicas == 2 && st.ObservedGeneration == got.Generation,
			fmt.Errorf("owned %d, status %+v", owned, st)
	})
}

// watchCoexistence reports whether pods of two images in ns were ever
// alive (not terminating) at the same time.
func watchCoexistence(t *testing.T, c kubernetes.Interface, ns, oldImage, newImage string) func() bool {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	list, err := c.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	w, err := c.CoreV1().Pods(ns).Watch(ctx, metav1.ListOptions{ResourceVersion: list.ResourceVersion})
	if err != nil {
		t.Fatal(err)
	}
	alive := map[string]string{}
	for _, p := range list.Items {
		alive[p.Name] = p.Spec.Containers[0].Image
	}
	var mu sync.Mutex
	overlap := false
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ev := range w.ResultChan() {
			p, ok := ev.Object.(*corev1.Pod)
			if !ok {
				continue
			}
			mu.Lock()
			if ev.Type == "DELETED" || p.DeletionTimestamp != nil {
				delete(alive, p.Name)
			} else {
				alive[p.Name] = p.Spec.Containers[0].Image
			}
			var o, n bool
			for _, img := range alive {
				o = o || img == oldImage
				n = n || img == newImage
			}
			overlap = overlap || o && n
			mu.Unlock()
		}
	}()
	t.Cleanup(func() { cancel(); w.Stop(); <-done })
	return func() bool {
		mu.Lock()
		defer mu.Unlock()
		return overlap
	}
}

func TestDeploymentRecreatePauseAndDeadline(t *testing.T) {
	cp := startControllers(t)
	startFakeKubelet(t, cp.client, "node-1", 2)
	ctx := context.Background()
	const ns = "recreate"
	createNamespace(t, cp.client, ns)
	two := int32(2)
	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "db", Namespace: ns},
		Spec: appsv1.DeploymentSpec{
			Replicas: &two,
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "db"}},
			Template: podTemplate("db", "db:1"),
			Strategy: appsv1.DeploymentStrategy{Type: appsv1.RecreateDeploymentStrategyType},
		},
	}
	if _, err := cp.client.AppsV1().Deployments(ns).Create(ctx, d, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	d = waitRollout(t, cp.client, ns, "db")

	// Recreate: old pods are gone before any new one exists.
	overlapped := watchCoexistence(t, cp.client, ns, "db:1", "db:2")
	setImage(t, cp.client, ns, "db", "db:2")
	waitRollout(t, cp.client, ns, "db")
	if overlapped() {
		t.Errorf("Recreate ran old and new pods at the same time")
	}

	// Paused: a template change is observed but not rolled out.
	patch := []byte(`{"spec":{"paused":true}}`)
	if _, err := cp.client.AppsV1().Deployments(ns).Patch(ctx, "db", types.StrategicMergePatchType, patch, metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	patch = []byte(`{"spec":{"template":{"spec":{"containers":[{"name":"c","image":"db:3"}]}}}}`)
	if _, err := cp.client.AppsV1().Deployments(ns).Patch(ctx, "db", types.StrategicMergePatchType, patch, metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	servertest.Wait(t, "paused deployment observed", func(context.Context) (bool, error) {
		got, err := cp.client.AppsV1().Deployments(ns).Get(ctx, "db", metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		return got.Status.ObservedGeneration == got.Generation, nil
	})
	rss, err := cp.client.AppsV1().ReplicaSets(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, rs := range rss.Items {
		if rs.Spec.Template.Spec.Containers[0].Image == "db:3" {
			t.Errorf("paused deployment created ReplicaSet %s for the new template", rs.Name)
		}
	}

	// Resumed with pods that never get ready and a 1 s progress deadline:
	// the rollout reports ProgressDeadlineExceeded.
	patch = []byte(`{"spec":{"paused":false,"progressDeadlineSeconds":1,"template":{"metadata":{"labels":{"` + notReadyLabel + `":"true"}}}}}`)
	if _, err := cp.client.AppsV1().Deployments(ns).Patch(ctx, "db", types.StrategicMergePatchType, patch, metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	servertest.Wait(t, "ProgressDeadlineExceeded", func(context.Context) (bool, error) {
		got, err := cp.client.AppsV1().Deployments(ns).Get(ctx, "db", metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		for _, c := range got.Status.Conditions {
			if c.Type == appsv1.DeploymentProgressing && c.Status == corev1.ConditionFalse && c.Reason == "ProgressDeadlineExceeded" {
				return true, nil
			}
		}
		return false, fmt.Errorf("conditions %+v", got.Status.Conditions)
	})
}
