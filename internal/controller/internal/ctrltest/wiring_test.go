package ctrltest

import (
	"context"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"skiff/internal/server"
)

// TestControllersRunInServer checks the wiring: a full control plane (its
// controller manager and scheduler included) runs a StatefulSet, a
// DaemonSet and a Job to running pods, and gives the node a pod CIDR.
func TestControllersRunInServer(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := server.Start(ctx, server.Config{DataDir: t.TempDir(), BindAddress: "127.0.0.1", HTTPSPort: -1,
		EtcdClientURL: "http://127.0.0.1:0", EtcdPeerURL: "http://127.0.0.1:0", DisableAgent: true, Logger: Logger()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	rc, err := clientcmd.BuildConfigFromFlags("", s.AdminKubeconfig())
	if err != nil {
		t.Fatal(err)
	}
	e := &Env{Client: kubernetes.NewForConfigOrDie(rc), Config: rc}
	c := context.Background()
	if _, err := e.Node(c, "n1", nil); err != nil {
		t.Fatal(err)
	}
	e.StartKubelet(t, "")
	two := int32(2)
	tmpl := func(l map[string]string, restart corev1.RestartPolicy) corev1.PodTemplateSpec {
		return corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: l},
			Spec: corev1.PodSpec{RestartPolicy: restart, Containers: []corev1.Container{{Name: "c", Image: "x"}}}}
	}
	sel := func(l map[string]string) *metav1.LabelSelector { return &metav1.LabelSelector{MatchLabels: l} }
	if _, err := e.Client.AppsV1().StatefulSets("default").Create(c, &appsv1.StatefulSet{ObjectMeta: metav1.ObjectMeta{Name: "w"},
		Spec: appsv1.StatefulSetSpec{Replicas: &two, Selector: sel(map[string]string{"app": "w"}), Template: tmpl(map[string]string{"app": "w"}, "")}},
		metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Client.AppsV1().DaemonSets("default").Create(c, &appsv1.DaemonSet{ObjectMeta: metav1.ObjectMeta{Name: "d"},
		Spec: appsv1.DaemonSetSpec{Selector: sel(map[string]string{"app": "d"}), Template: tmpl(map[string]string{"app": "d"}, "")}},
		metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Client.BatchV1().Jobs("default").Create(c, &batchv1.Job{ObjectMeta: metav1.ObjectMeta{Name: "j"},
		Spec: batchv1.JobSpec{Template: tmpl(nil, corev1.RestartPolicyNever)}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	Wait(t, "four running pods", func() (bool, error) {
		ps, err := e.Client.CoreV1().Pods("default").List(c, metav1.ListOptions{})
		if err != nil {
			return false, err
		}
		n := 0
		for _, p := range ps.Items {
			if p.Status.Phase == corev1.PodRunning {
				n++
			}
		}
		return n == 4, nil
	})
	Wait(t, "a pod CIDR on the node", func() (bool, error) {
		n, err := e.Client.CoreV1().Nodes().Get(c, "n1", metav1.GetOptions{})
		return err == nil && n.Spec.PodCIDR != "", err
	})
}
