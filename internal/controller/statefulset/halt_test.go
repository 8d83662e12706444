package statefulset_test

import (
	"context"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"

	"skiff/internal/controller/statefulset"
	"skiff/internal/server/servertest"
	"skiff/internal/testobj"
)

// TestScaleDownHaltsBehindUnhealthyPod checks upstream's OrderedReady
// rule for scale-down: an unhealthy pod is removed only when it is the
// lowest unhealthy one, so a set whose higher pods are broken stops
// shrinking until they recover.
func TestScaleDownHaltsBehindUnhealthyPod(t *testing.T) {
	env := servertest.Start(t, nil)
	ctx := t.Context()
	if _, err := env.CreateNode(ctx, testobj.Node("n1").Capacity("4", "8Gi").Ready().Obj()); err != nil {
		t.Fatal(err)
	}
	env.StartKubelet(t, "n1")
	env.RunController(t, statefulset.New, nil)
	sets := env.Client.AppsV1().StatefulSets("default")
	if _, err := sets.Create(ctx, newSet("web", 3, ""), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	readyReplicas := func(n int32) func(context.Context) (bool, error) {
		return func(context.Context) (bool, error) {
			s, err := sets.Get(ctx, "web", metav1.GetOptions{})
			return err == nil && s.Status.ReadyReplicas == n && s.Status.ObservedGeneration == s.Generation, err
		}
	}
	servertest.Wait(t, "3 ready replicas", readyReplicas(3))

	// web-1 and web-2 fail their readiness checks.
	for _, name := range []string{"web-1", "web-2"} {
		setReady(t, env, name, corev1.ConditionFalse)
	}
	servertest.Wait(t, "1 ready replica", readyReplicas(1))

	zero := int32(0)
	updateSet(t, env, "web", func(set *appsv1.StatefulSet) { set.Spec.Replicas = &zero })
	servertest.Wait(t, "the scale-down observed", func(context.Context) (bool, error) {
		s, err := sets.Get(ctx, "web", metav1.GetOptions{})
		return err == nil && s.Status.ObservedGeneration == s.Generation, err
	})
	p, err := env.Client.CoreV1().Pods("default").Get(ctx, "web-2", metav1.GetOptions{})
	if err != nil || p.DeletionTimestamp != nil {
		t.Fatalf("web-2 was removed while web-1 below it was unhealthy: %v %v", p.DeletionTimestamp, err)
	}

	// Once web-2 recovers, the set shrinks again, highest first; web-1,
	// the lowest unhealthy pod, may go.
	setReady(t, env, "web-2", corev1.ConditionTrue)
	for _, name := range []string{"web-2", "web-1", "web-0"} {
		servertest.Wait(t, name+" removed", func(context.Context) (bool, error) {
			_, err := env.Client.CoreV1().Pods("default").Get(ctx, name, metav1.GetOptions{})
			return apierrors.IsNotFound(err), nil
		})
	}
}

// setReady sets a pod's Ready condition.
func setReady(t *testing.T, env *servertest.Server, name string, status corev1.ConditionStatus) {
	t.Helper()
	pods := env.Client.CoreV1().Pods("default")
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		p, err := pods.Get(context.Background(), name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		for i := range p.Status.Conditions {
			if p.Status.Conditions[i].Type == corev1.PodReady || p.Status.Conditions[i].Type == corev1.ContainersReady {
				p.Status.Conditions[i].Status = status
			}
		}
		_, err = pods.UpdateStatus(context.Background(), p, metav1.UpdateOptions{})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}
