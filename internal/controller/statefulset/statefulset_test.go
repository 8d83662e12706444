package statefulset_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/util/retry"

	"skiff/internal/controller/reconcile"
	"skiff/internal/controller/statefulset"
	"skiff/internal/server/servertest"
	"skiff/internal/testobj"
)

func TestMain(m *testing.M) { servertest.Main(m) }

func newSet(name string, replicas int32, policy appsv1.PodManagementPolicyType) *appsv1.StatefulSet {
	labels := map[string]string{"app": name}
	return &appsv1.StatefulSet{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default"},
		Spec: appsv1.StatefulSetSpec{
			Replicas: &replicas, ServiceName: name, PodManagementPolicy: policy,
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "busybox"}}},
			},
			VolumeClaimTemplates: []corev1.PersistentVolumeClaim{{
				ObjectMeta: metav1.ObjectMeta{Name: "data"},
				Spec: corev1.PersistentVolumeClaimSpec{
					AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
					Resources: corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{
						corev1.ResourceStorage: resource.MustParse("1Gi")}},
				},
			}},
		},
	}
}

// TestOrderedReady checks that each ordinal is created only after the
// previous one was Running and Ready, that scale-down goes highest first,
// and that claims survive scale-down.
func TestOrderedReady(t *testing.T) {
	env := servertest.Start(t, nil)
	ctx := t.Context()
	if _, err := env.CreateNode(ctx, testobj.Node("n1").Capacity("4", "8Gi").Ready().Obj()); err != nil {
		t.Fatal(err)
	}
	env.StartKubelet(t, "n1")
	env.RunController(t, statefulset.New, nil)

	w, err := env.Client.CoreV1().Pods("default").Watch(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	_, err = env.Client.AppsV1().StatefulSets("default").Create(ctx, newSet("web", 3, ""), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}

	// Replay the watch: when web-n appears, web-(n-1) must already be ready.
	ready := map[string]bool{}
	var order []string
	for len(order) < 3 || !ready["web-2"] {
		ev := <-w.ResultChan()
		p, ok := ev.Object.(*corev1.Pod)
		if !ok {
			t.Fatalf("watch: %v", ev.Object)
		}
		if ev.Type == watch.Added {
			var ord int
			fmt.Sscanf(p.Name, "web-%d", &ord)
			if ord > 0 && !ready[fmt.Sprintf("web-%d", ord-1)] {
				t.Fatalf("%s created before web-%d was ready", p.Name, ord-1)
			}
			order = append(order, p.Name)
		}
		ready[p.Name] = reconcile.IsPodReady(p)
	}
	if diff := cmp.Diff([]string{"web-0", "web-1", "web-2"}, order); diff != "" {
		t.Errorf("creation order (-want +got):\n%s", diff)
	}

	p, err := env.Client.CoreV1().Pods("default").Get(ctx, "web-1", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{"hostname": p.Spec.Hostname, "subdomain": p.Spec.Subdomain,
		"pod-name": p.Labels[statefulset.PodNameLabel], "pod-index": p.Labels[statefulset.PodIndexLabel],
		"claim": p.Spec.Volumes[0].PersistentVolumeClaim.ClaimName}
	want := map[string]string{"hostname": "web-1", "subdomain": "web", "pod-name": "web-1", "pod-index": "1", "claim": "data-web-1"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("pod identity (-want +got):\n%s", diff)
	}

	servertest.Wait(t, "status to show 3 ready replicas", func(context.Context) (bool, error) {
		s, err := env.Client.AppsV1().StatefulSets("default").Get(ctx, "web", metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		return s.Status.ReadyReplicas == 3 && s.Status.UpdatedReplicas == 3 && s.Status.CurrentRevision != "" &&
			s.Status.CurrentRevision == s.Status.UpdateRevision && s.Status.ObservedGeneration == s.Generation, nil
	})

	// Scale down to 1: web-2 goes before web-1.
	one := int32(1)
	updateSet(t, env, "web", func(set *appsv1.StatefulSet) { set.Spec.Replicas = &one })
	var deleted []string
	for len(deleted) < 2 {
		ev := <-w.ResultChan()
		if ev.Type == watch.Deleted {
			deleted = append(deleted, ev.Object.(*corev1.Pod).Name)
		}
	}
	if diff := cmp.Diff([]string{"web-2", "web-1"}, deleted); diff != "" {
		t.Errorf("deletion order (-want +got):\n%s", diff)
	}
	if _, err := env.Client.CoreV1().PersistentVolumeClaims("default").Get(ctx, "data-web-2", metav1.GetOptions{}); err != nil {
		t.Errorf("claim kept on scale-down: %v", err)
	}
}

// TestRollingUpdatePartition checks that a template change replaces only
// the ordinals at or above the partition.
func TestRollingUpdatePartition(t *testing.T) {
	env := servertest.Start(t, nil)
	ctx := context.Background()
	if _, err := env.CreateNode(ctx, testobj.Node("n1").Capacity("4", "8Gi").Ready().Obj()); err != nil {
		t.Fatal(err)
	}
	env.StartKubelet(t, "n1")
	env.RunController(t, statefulset.New, nil)
	s := newSet("db", 3, appsv1.ParallelPodManagement)
	two := int32(2)
	s.Spec.UpdateStrategy = appsv1.StatefulSetUpdateStrategy{Type: appsv1.RollingUpdateStatefulSetStrategyType,
		RollingUpdate: &appsv1.RollingUpdateStatefulSetStrategy{Partition: &two}}
	if _, err := env.Client.AppsV1().StatefulSets("default").Create(ctx, s, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	var first string
	servertest.Wait(t, "3 ready replicas", func(context.Context) (bool, error) {
		s, err := env.Client.AppsV1().StatefulSets("default").Get(ctx, "db", metav1.GetOptions{})
		first = s.Status.UpdateRevision
		return err == nil && s.Status.ReadyReplicas == 3, err
	})
	updateSet(t, env, "db", func(set *appsv1.StatefulSet) { set.Spec.Template.Spec.Containers[0].Image = "busybox:2" })
	var st appsv1.StatefulSetStatus
	servertest.Wait(t, "db-2 updated", func(context.Context) (bool, error) {
		s, err := env.Client.AppsV1().StatefulSets("default").Get(ctx, "db", metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		st = s.Status
		return st.UpdateRevision != first && st.UpdatedReplicas == 1 && st.ReadyReplicas == 3, nil
	})
	images := map[string]string{}
	for _, n := range []string{"db-0", "db-1", "db-2"} {
		p, err := env.Client.CoreV1().Pods("default").Get(ctx, n, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		images[n] = p.Spec.Containers[0].Image
	}
	want := map[string]string{"db-0": "busybox", "db-1": "busybox", "db-2": "busybox:2"}
	if diff := cmp.Diff(want, images); diff != "" {
		t.Errorf("images after partitioned update (-want +got):\n%s", diff)
	}
	if st.CurrentRevision != first {
		t.Errorf("currentRevision = %s, want the old %s while the partition holds", st.CurrentRevision, first)
	}
}

// updateSet changes a StatefulSet in default, retrying on conflicts with
// the controller's status writes.
func updateSet(t *testing.T, env *servertest.Server, name string, change func(*appsv1.StatefulSet)) {
	t.Helper()
	sets := env.Client.AppsV1().StatefulSets("default")
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		set, err := sets.Get(context.Background(), name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		change(set)
		_, err = sets.Update(context.Background(), set, metav1.UpdateOptions{})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}
