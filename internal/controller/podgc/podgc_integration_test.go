package podgc_test

import (
	"context"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"skiff/internal/controller/podgc"
	"skiff/internal/server/servertest"
	"skiff/internal/testobj"
)

func TestMain(m *testing.M) { servertest.Main(m) }

// TestOrphansRemoved deletes a node: its pods go, the other node's stay.
func TestOrphansRemoved(t *testing.T) {
	env := servertest.Start(t, nil)
	ctx := context.Background()
	for _, n := range []string{"n1", "n2"} {
		if _, err := env.CreateNode(ctx, testobj.Node(n).Capacity("4", "8Gi").Ready().Obj()); err != nil {
			t.Fatal(err)
		}
	}
	for name, node := range map[string]string{"on-n1": "n1", "on-n2": "n2"} {
		if _, err := env.Client.CoreV1().Pods("default").Create(ctx, &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: name},
			Spec:       corev1.PodSpec{NodeName: node, Containers: []corev1.Container{{Name: "c", Image: "x"}}},
		}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	env.RunController(t, podgc.NewWithConfig(podgc.Config{Period: time.Hour}), nil)
	if err := env.Client.CoreV1().Nodes().Delete(ctx, "n1", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	servertest.Wait(t, "the pod of the deleted node to go", func(context.Context) (bool, error) {
		_, err := env.Client.CoreV1().Pods("default").Get(ctx, "on-n1", metav1.GetOptions{})
		return apierrors.IsNotFound(err), nil
	})
	if _, err := env.Client.CoreV1().Pods("default").Get(ctx, "on-n2", metav1.GetOptions{}); err != nil {
		t.Errorf("pod on a live node: %v", err)
	}
}
