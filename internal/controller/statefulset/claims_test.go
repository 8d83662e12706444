package statefulset_test

import (
	"context"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"skiff/internal/controller/statefulset"
	"skiff/internal/server/servertest"
	"skiff/internal/testobj"
)

// TestClaimOwnersAndTerminatingClaims checks two of upstream's claim
// rules: a live ordinal's claim loses an owner reference to a pod (left
// by an earlier scale-down under whenScaled=Delete) and gains the set's
// under whenDeleted=Delete; and no pod is created on a claim that is being
// deleted: the set waits until it is gone and makes a fresh one.
func TestClaimOwnersAndTerminatingClaims(t *testing.T) {
	env := servertest.Start(t, nil)
	ctx := t.Context()
	if _, err := env.CreateNode(ctx, testobj.Node("n1").Capacity("4", "8Gi").Ready().Obj()); err != nil {
		t.Fatal(err)
	}
	env.StartKubelet(t, "n1")
	claims := env.Client.CoreV1().PersistentVolumeClaims("default")
	claim := func(name string, mutate func(*corev1.PersistentVolumeClaim)) {
		t.Helper()
		c := &corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: corev1.PersistentVolumeClaimSpec{
			AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			Resources:   corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")}},
		}}
		mutate(c)
		if _, err := claims.Create(ctx, c, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	// data-web-0 is owned by a pod that no longer exists.
	claim("data-web-0", func(c *corev1.PersistentVolumeClaim) {
		c.OwnerReferences = []metav1.OwnerReference{{APIVersion: "v1", Kind: "Pod", Name: "web-0", UID: "0ld-p0d"}}
	})
	// data-web-1 is being deleted, held by a finalizer.
	claim("data-web-1", func(c *corev1.PersistentVolumeClaim) { c.Finalizers = []string{"example.com/hold"} })
	old, err := claims.Get(ctx, "data-web-1", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := claims.Delete(ctx, "data-web-1", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}

	rec := env.RunController(t, statefulset.New, nil)
	set := newSet("web", 2, appsv1.ParallelPodManagement)
	set.Spec.PersistentVolumeClaimRetentionPolicy = &appsv1.StatefulSetPersistentVolumeClaimRetentionPolicy{
		WhenDeleted: appsv1.DeletePersistentVolumeClaimRetentionPolicyType,
		WhenScaled:  appsv1.DeletePersistentVolumeClaimRetentionPolicyType,
	}
	created, err := env.Client.AppsV1().StatefulSets("default").Create(ctx, set, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	servertest.Wait(t, "data-web-0 owned by the set alone", func(context.Context) (bool, error) {
		c, err := claims.Get(ctx, "data-web-0", metav1.GetOptions{})
		return err == nil && len(c.OwnerReferences) == 1 && c.OwnerReferences[0].UID == created.UID, err
	})
	servertest.Wait(t, "the FailedCreate event for the terminating claim", func(context.Context) (bool, error) {
		return rec.Has("FailedCreate"), nil
	})
	if _, err := env.Client.CoreV1().Pods("default").Get(ctx, "web-1", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Fatalf("web-1 was created on a claim being deleted: %v", err)
	}

	// Once the old claim is gone, web-1 comes with a fresh one.
	cur, err := claims.Get(ctx, "data-web-1", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cur.Finalizers = nil
	if _, err := claims.Update(ctx, cur, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	servertest.Wait(t, "web-1 created", func(context.Context) (bool, error) {
		_, err := env.Client.CoreV1().Pods("default").Get(ctx, "web-1", metav1.GetOptions{})
		return err == nil, nil
	})
	fresh, err := claims.Get(ctx, "data-web-1", metav1.GetOptions{})
	if err != nil || fresh.UID == old.UID {
		t.Fatalf("data-web-1 is not a fresh claim: %v", err)
	}
}
