package daemonset_test

import (
	"context"
	"sort"
	"testing"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"

	"skiff/internal/controller/daemonset"
	"skiff/internal/controller/reconcile"
	"skiff/internal/server/servertest"
	"skiff/internal/testobj"
)

func TestMain(m *testing.M) { servertest.Main(m) }

// podsByNode returns the nodes that run a ready, non-terminating pod of
// the DaemonSet, sorted.
func readyNodes(ctx context.Context, env *servertest.Server) ([]string, error) {
	list, err := env.Client.CoreV1().Pods("default").List(ctx, metav1.ListOptions{LabelSelector: "app=agent"})
	if err != nil {
		return nil, err
	}
	var out []string
	for _, p := range list.Items {
		if p.DeletionTimestamp == nil && reconcile.IsPodReady(&p) {
			out = append(out, p.Spec.NodeName)
		}
	}
	sort.Strings(out)
	return out, nil
}

func TestFollowsNodes(t *testing.T) {
	env := servertest.Start(t, nil)
	ctx := context.Background()
	if _, err := env.CreateNode(ctx, testobj.Node("n1").Labels("role", "worker").Capacity("4", "8Gi").Ready().Obj()); err != nil {
		t.Fatal(err)
	}
	if _, err := env.CreateNode(ctx, testobj.Node("master").Labels("role", "master").Capacity("4", "8Gi").Ready().Obj()); err != nil {
		t.Fatal(err)
	}
	env.StartKubelet(t, "")
	env.RunController(t, daemonset.New, nil)

	labels := map[string]string{"app": "agent"}
	ds := &appsv1.DaemonSet{
		ObjectMeta: metav1.ObjectMeta{Name: "agent", Namespace: "default"},
		Spec: appsv1.DaemonSetSpec{
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{
					NodeSelector: map[string]string{"role": "worker"},
					Containers:   []corev1.Container{{Name: "c", Image: "agent"}},
				},
			},
		},
	}
	if _, err := env.Client.AppsV1().DaemonSets("default").Create(ctx, ds, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitNodes := func(what string, want []string) {
		t.Helper()
		var got []string
		servertest.Wait(t, what, func(context.Context) (bool, error) {
			var err error
			got, err = readyNodes(ctx, env)
			return err == nil && cmp.Equal(want, got), err
		})
	}
	waitNodes("a pod on the one worker", []string{"n1"})

	if _, err := env.CreateNode(ctx, testobj.Node("n2").Labels("role", "worker").Capacity("4", "8Gi").Ready().Obj()); err != nil {
		t.Fatal(err)
	}
	waitNodes("a pod on the joining worker", []string{"n1", "n2"})
	servertest.Wait(t, "status for two nodes", func(context.Context) (bool, error) {
		d, err := env.Client.AppsV1().DaemonSets("default").Get(ctx, "agent", metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		return d.Status.DesiredNumberScheduled == 2 && d.Status.NumberReady == 2 && d.Status.NumberAvailable == 2 &&
			d.Status.UpdatedNumberScheduled == 2 && d.Status.CurrentNumberScheduled == 2, nil
	})

	// A NoExecute taint the pods do not tolerate evicts the daemon pod; the
	// unreachable taint is tolerated automatically.
	taint := func(name string, taints ...corev1.Taint) {
		t.Helper()
		// The node's heartbeats change it meanwhile: retry on conflicts.
		err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
			n, err := env.Client.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
			if err != nil {
				return err
			}
			n.Spec.Taints = taints
			_, err = env.Client.CoreV1().Nodes().Update(ctx, n, metav1.UpdateOptions{})
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	taint("n2", corev1.Taint{Key: "dedicated", Value: "db", Effect: corev1.TaintEffectNoExecute})
	taint("n1", corev1.Taint{Key: daemonset.TaintNodeUnreachable, Effect: corev1.TaintEffectNoExecute})
	waitNodes("the pod to leave the tainted node", []string{"n1"})
	servertest.Wait(t, "desired count to drop", func(context.Context) (bool, error) {
		d, err := env.Client.AppsV1().DaemonSets("default").Get(ctx, "agent", metav1.GetOptions{})
		return err == nil && d.Status.DesiredNumberScheduled == 1 && d.Status.NumberMisscheduled == 0, err
	})

	taint("n2")
	waitNodes("the pod to come back once untainted", []string{"n1", "n2"})

	if err := env.Client.CoreV1().Nodes().Delete(ctx, "n1", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	waitNodes("the pod of a removed node to go", []string{"n2"})

	var list *corev1.PodList
	servertest.Wait(t, "the removed node's pod to be gone", func(context.Context) (bool, error) {
		var err error
		list, err = env.Client.CoreV1().Pods("default").List(ctx, metav1.ListOptions{LabelSelector: "app=agent"})
		return err == nil && len(list.Items) == 1, err
	})
	var keys []string
	for _, tol := range list.Items[0].Spec.Tolerations {
		keys = append(keys, tol.Key+":"+string(tol.Effect))
	}
	want := []string{
		"node.kubernetes.io/not-ready:NoExecute", "node.kubernetes.io/unreachable:NoExecute",
		"node.kubernetes.io/disk-pressure:NoSchedule", "node.kubernetes.io/memory-pressure:NoSchedule",
		"node.kubernetes.io/pid-pressure:NoSchedule", "node.kubernetes.io/unschedulable:NoSchedule",
	}
	if diff := cmp.Diff(want, keys); diff != "" {
		t.Errorf("automatic tolerations (-want +got):\n%s", diff)
	}
	if got := list.Items[0].Spec.Affinity.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms[0].MatchFields[0].Values; !cmp.Equal(got, []string{"n2"}) {
		t.Errorf("node affinity matchFields = %v, want [n2]", got)
	}
}

// TestRollingUpdate changes the template of a DaemonSet on three nodes:
// with maxUnavailable=1 no more than one node is ever without a ready pod,
// and every node ends on the new template.
func TestRollingUpdate(t *testing.T) {
	env := servertest.Start(t, nil)
	ctx := context.Background()
	nodes := []string{"n1", "n2", "n3"}
	for _, n := range nodes {
		if _, err := env.CreateNode(ctx, testobj.Node(n).Capacity("4", "8Gi").Ready().Obj()); err != nil {
			t.Fatal(err)
		}
	}
	env.StartKubelet(t, "")
	env.RunController(t, daemonset.New, nil)
	labels := map[string]string{"app": "agent"}
	_, err := env.Client.AppsV1().DaemonSets("default").Create(ctx, &appsv1.DaemonSet{
		ObjectMeta: metav1.ObjectMeta{Name: "agent", Namespace: "default"},
		Spec: appsv1.DaemonSetSpec{
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "agent:1"}}}},
		},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	servertest.Wait(t, "three ready pods", func(context.Context) (bool, error) {
		got, err := readyNodes(ctx, env)
		return err == nil && cmp.Equal(nodes, got), err
	})
	w, err := env.Client.CoreV1().Pods("default").Watch(ctx, metav1.ListOptions{LabelSelector: "app=agent"})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	// The controller writes the status meanwhile: retry on conflicts, as
	// any client updating a live object must.
	err = retry.RetryOnConflict(retry.DefaultRetry, func() error {
		ds, err := env.Client.AppsV1().DaemonSets("default").Get(ctx, "agent", metav1.GetOptions{})
		if err != nil {
			return err
		}
		ds.Spec.Template.Spec.Containers[0].Image = "agent:2"
		_, err = env.Client.AppsV1().DaemonSets("default").Update(ctx, ds, metav1.UpdateOptions{})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	// Replay pod events: count nodes with a ready, non-terminating pod.
	state := map[string]*corev1.Pod{}
	for {
		ev := <-w.ResultChan()
		p, ok := ev.Object.(*corev1.Pod)
		if !ok {
			t.Fatalf("watch: %v", ev.Object)
		}
		if ev.Type == "DELETED" {
			delete(state, p.Name)
		} else {
			state[p.Name] = p
		}
		readyOn := map[string]bool{}
		newReady := 0
		for _, q := range state {
			if q.DeletionTimestamp == nil && reconcile.IsPodReady(q) {
				readyOn[q.Spec.NodeName] = true
				if q.Spec.Containers[0].Image == "agent:2" {
					newReady++
				}
			}
		}
		if len(state) >= 3 && len(readyOn) < 2 {
			t.Fatalf("more than one node without a ready pod: %v", readyOn)
		}
		if newReady == 3 && len(state) == 3 {
			break
		}
	}
	servertest.Wait(t, "status to show the update", func(context.Context) (bool, error) {
		d, err := env.Client.AppsV1().DaemonSets("default").Get(ctx, "agent", metav1.GetOptions{})
		return err == nil && d.Status.UpdatedNumberScheduled == 3 && d.Status.NumberAvailable == 3 && d.Status.ObservedGeneration == d.Generation, err
	})
}
