package cronjob_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	testingclock "k8s.io/utils/clock/testing"

	"skiff/internal/controller/cronjob"
	"skiff/internal/server/servertest"
)

func TestMain(m *testing.M) { servertest.Main(m) }

func jobNames(ctx context.Context, t *testing.T, env *servertest.Server) []string {
	t.Helper()
	list, err := env.Client.BatchV1().Jobs("default").List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, j := range list.Items {
		if j.DeletionTimestamp == nil {
			out = append(out, j.Name)
		}
	}
	return out
}

// TestFiresOnSchedule drives a */5 CronJob with a fake clock: nothing
// before the first slot, one Job per slot named after it, Forbid holds a
// slot while a Job runs, and a finished Job updates lastSuccessfulTime
// and lets the held slot start late.
func TestFiresOnSchedule(t *testing.T) {
	env := servertest.Start(t, nil)
	ctx := context.Background()
	clk := testingclock.NewFakeClock(time.Now())
	rec := env.RunController(t, cronjob.New, clk)

	cj, err := env.Client.BatchV1().CronJobs("default").Create(ctx, &batchv1.CronJob{
		ObjectMeta: metav1.ObjectMeta{Name: "tick", Namespace: "default"},
		Spec: batchv1.CronJobSpec{
			Schedule: "*/5 * * * *", ConcurrencyPolicy: batchv1.ForbidConcurrent,
			JobTemplate: batchv1.JobTemplateSpec{Spec: batchv1.JobSpec{Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{
				RestartPolicy: corev1.RestartPolicyNever, Containers: []corev1.Container{{Name: "c", Image: "busybox"}},
			}}}},
		},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	created := cj.CreationTimestamp.Time
	slot1 := created.Truncate(5 * time.Minute).Add(5 * time.Minute)
	if clk.Now().Before(created) {
		clk.SetTime(created)
	}
	if got := jobNames(ctx, t, env); len(got) != 0 {
		t.Fatalf("jobs before the first slot: %v", got)
	}

	clk.SetTime(slot1.Add(time.Second))
	want1 := cronjob.JobName("tick", slot1)
	servertest.Wait(t, "the first job", func(context.Context) (bool, error) {
		cj, err := env.Client.BatchV1().CronJobs("default").Get(ctx, "tick", metav1.GetOptions{})
		return err == nil && len(cj.Status.Active) == 1 && cj.Status.LastScheduleTime != nil, err
	})
	if diff := cmp.Diff([]string{want1}, jobNames(ctx, t, env)); diff != "" {
		t.Errorf("jobs after the first slot (-want +got):\n%s", diff)
	}
	j, err := env.Client.BatchV1().Jobs("default").Get(ctx, want1, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got := j.Annotations[cronjob.ScheduledTimestampAnnotation]; got != slot1.In(time.Local).Format(time.RFC3339) {
		t.Errorf("scheduled-timestamp annotation = %q", got)
	}

	// The second slot comes while the first Job runs: Forbid skips it.
	slot2 := slot1.Add(5 * time.Minute)
	clk.SetTime(slot2.Add(time.Second))
	servertest.Wait(t, "the second slot to be skipped", func(context.Context) (bool, error) {
		return rec.Has("JobAlreadyActive"), nil
	})
	if diff := cmp.Diff([]string{want1}, jobNames(ctx, t, env)); diff != "" {
		t.Errorf("Forbid started a second job (-want +got):\n%s", diff)
	}

	// The first Job completes; the third slot starts a new one.
	done := metav1.NewTime(slot2)
	j.Status.StartTime = &done
	j.Status.CompletionTime = &done
	j.Status.Succeeded = 1
	j.Status.Conditions = []batchv1.JobCondition{
		{Type: batchv1.JobSuccessCriteriaMet, Status: corev1.ConditionTrue, LastTransitionTime: done},
		{Type: batchv1.JobComplete, Status: corev1.ConditionTrue, LastTransitionTime: done},
	}
	if _, err := env.Client.BatchV1().Jobs("default").UpdateStatus(ctx, j, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	// The skipped slot is still unmet and no start deadline is set, so it
	// starts late now that Forbid allows it, as upstream does.
	want2 := cronjob.JobName("tick", slot2)
	servertest.Wait(t, "lastSuccessfulTime and the late job", func(context.Context) (bool, error) {
		cj, err := env.Client.BatchV1().CronJobs("default").Get(ctx, "tick", metav1.GetOptions{})
		return err == nil && cj.Status.LastSuccessfulTime != nil && len(cj.Status.Active) == 1 &&
			cj.Status.Active[0].Name == want2, err
	})
	if diff := cmp.Diff([]string{want1, want2}, jobNames(ctx, t, env)); diff != "" {
		t.Errorf("jobs after the first completed (-want +got):\n%s", diff)
	}
}
