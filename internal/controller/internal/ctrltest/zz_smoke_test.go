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

func TestSmokeFullServer(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := server.Start(ctx, server.Config{DataDir: t.TempDir(), BindAddress: "127.0.0.1", HTTPSPort: -1,
		EtcdClientURL: "http://127.0.0.1:0", EtcdPeerURL: "http://127.0.0.1:0", DisableAgent: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	rc, _ := clientcmd.BuildConfigFromFlags("", s.AdminKubeconfig())
	e := &Env{Client: kubernetes.NewForConfigOrDie(rc), Config: rc}
	if _, err := e.Node(context.Background(), "n1", nil); err != nil {
		t.Fatal(err)
	}
	e.StartKubelet(t, "")
	c := context.Background()
	one := int32(2)
	l := map[string]string{"app": "w"}
	e.Client.AppsV1().StatefulSets("default").Create(c, &appsv1.StatefulSet{ObjectMeta: metav1.ObjectMeta{Name: "w"},
		Spec: appsv1.StatefulSetSpec{Replicas: &one, Selector: &metav1.LabelSelector{MatchLabels: l},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: l}, Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "x"}}}}}}, metav1.CreateOptions{})
	l2 := map[string]string{"app": "d"}
	e.Client.AppsV1().DaemonSets("default").Create(c, &appsv1.DaemonSet{ObjectMeta: metav1.ObjectMeta{Name: "d"},
		Spec: appsv1.DaemonSetSpec{Selector: &metav1.LabelSelector{MatchLabels: l2},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: l2}, Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "x"}}}}}}, metav1.CreateOptions{})
	e.Client.BatchV1().Jobs("default").Create(c, &batchv1.Job{ObjectMeta: metav1.ObjectMeta{Name: "j"},
		Spec: batchv1.JobSpec{Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{RestartPolicy: "Never", Containers: []corev1.Container{{Name: "c", Image: "x"}}}}}}, metav1.CreateOptions{})
	time.Sleep(3 * time.Second)
	Wait(t, "pods running", func() (bool, error) {
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
		t.Logf("running %d of %d", n, len(ps.Items))
		return n == 4, nil
	})
	Wait(t, "podCIDR", func() (bool, error) {
		n, err := e.Client.CoreV1().Nodes().Get(c, "n1", metav1.GetOptions{})
		return err == nil && n.Spec.PodCIDR != "", err
	})
}
