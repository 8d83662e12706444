package ttlafterfinished_test

import (
	"context"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	testingclock "k8s.io/utils/clock/testing"

	"skiff/internal/controller/ttlafterfinished"
	"skiff/internal/server/servertest"
)

func TestMain(m *testing.M) { servertest.Main(m) }

// TestDeletesAfterTTL finishes a Job with a 60 s TTL: it stays until the
// clock passes finish time + 60 s, then goes.
func TestDeletesAfterTTL(t *testing.T) {
	env := servertest.Start(t, nil)
	ctx := context.Background()
	start := time.Now().Truncate(time.Second)
	clk := testingclock.NewFakeClock(start)
	env.RunController(t, ttlafterfinished.New, clk)
	ttl := int32(60)
	j, err := env.Client.BatchV1().Jobs("default").Create(ctx, &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{Name: "done", Namespace: "default"},
		Spec: batchv1.JobSpec{TTLSecondsAfterFinished: &ttl, Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{
			RestartPolicy: corev1.RestartPolicyNever, Containers: []corev1.Container{{Name: "c", Image: "busybox"}}}}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	fin := metav1.NewTime(start)
	j.Status.StartTime, j.Status.CompletionTime, j.Status.Succeeded = &fin, &fin, 1
	j.Status.Conditions = []batchv1.JobCondition{
		{Type: batchv1.JobSuccessCriteriaMet, Status: corev1.ConditionTrue, LastTransitionTime: fin},
		{Type: batchv1.JobComplete, Status: corev1.ConditionTrue, LastTransitionTime: fin},
	}
	if _, err := env.Client.BatchV1().Jobs("default").UpdateStatus(ctx, j, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	servertest.Wait(t, "the expiry timer", func(context.Context) (bool, error) { return clk.HasWaiters(), nil })
	if _, err := env.Client.BatchV1().Jobs("default").Get(ctx, "done", metav1.GetOptions{}); err != nil {
		t.Fatalf("job deleted before its ttl: %v", err)
	}
	clk.Step(61 * time.Second)
	servertest.Wait(t, "the job to be deleted", func(context.Context) (bool, error) {
		j, err := env.Client.BatchV1().Jobs("default").Get(ctx, "done", metav1.GetOptions{})
		return apierrors.IsNotFound(err) || err == nil && j.DeletionTimestamp != nil, nil
	})
}
