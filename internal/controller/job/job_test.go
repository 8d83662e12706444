package job_test

import (
	"context"
	"sort"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	testingclock "k8s.io/utils/clock/testing"
	"k8s.io/utils/ptr"

	"skiff/internal/controller/job"
	"skiff/internal/server/servertest"
	"skiff/internal/testobj"
)

func TestMain(m *testing.M) { servertest.Main(m) }

func newJob(name string, mut func(*batchv1.Job)) *batchv1.Job {
	j := &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default"},
		Spec: batchv1.JobSpec{Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{
			RestartPolicy: corev1.RestartPolicyNever,
			Containers:    []corev1.Container{{Name: "c", Image: "busybox"}},
		}}},
	}
	mut(j)
	return j
}

// runningPods lists the job's pods that the simulated kubelet runs.
func runningPods(ctx context.Context, env *servertest.Server, name string) ([]corev1.Pod, error) {
	list, err := env.Client.CoreV1().Pods("default").List(ctx, metav1.ListOptions{LabelSelector: batchv1.JobNameLabel + "=" + name})
	if err != nil {
		return nil, err
	}
	var out []corev1.Pod
	for _, p := range list.Items {
		if p.Status.Phase == corev1.PodRunning && p.DeletionTimestamp == nil {
			out = append(out, p)
		}
	}
	return out, nil
}

func conditions(j *batchv1.Job) []string {
	var out []string
	for _, c := range j.Status.Conditions {
		if c.Status == corev1.ConditionTrue {
			out = append(out, string(c.Type)+"/"+c.Reason)
		}
	}
	sort.Strings(out)
	return out
}

// TestBackoffLimit fails every pod: with backoffLimit 2 the job gives up
// after the third failure, each retry waiting out the backoff.
func TestBackoffLimit(t *testing.T) {
	env := servertest.Start(t, nil)
	ctx := context.Background()
	if _, err := env.CreateNode(ctx, testobj.Node("n1").Capacity("4", "8Gi").Ready().Obj()); err != nil {
		t.Fatal(err)
	}
	env.StartKubelet(t, "n1")
	clk := testingclock.NewFakeClock(time.Now())
	env.RunController(t, job.New, clk)
	two := int32(2)
	if _, err := env.Client.BatchV1().Jobs("default").Create(ctx, newJob("fail", func(j *batchv1.Job) { j.Spec.BackoffLimit = &two }), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	getJob := func() *batchv1.Job {
		j, err := env.Client.BatchV1().Jobs("default").Get(ctx, "fail", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return j
	}
	backoff := 10 * time.Second
	for attempt := int32(1); attempt <= 3; attempt++ {
		var pods []corev1.Pod
		servertest.Wait(t, "a running pod", func(context.Context) (bool, error) {
			var err error
			pods, err = runningPods(ctx, env, "fail")
			return err == nil && len(pods) == 1, err
		})
		if err := env.FinishPod(ctx, "default", pods[0].Name, 1); err != nil {
			t.Fatal(err)
		}
		servertest.Wait(t, "the failure to be counted", func(context.Context) (bool, error) {
			j := getJob()
			return j.Status.Failed == attempt && j.Status.Active == 0, nil
		})
		if attempt < 3 {
			// No replacement before the backoff has passed.
			if pods, _ := runningPods(ctx, env, "fail"); len(pods) != 0 {
				t.Fatalf("attempt %d: replacement started before the backoff", attempt)
			}
			clk.Step(backoff)
			backoff *= 2
		}
	}
	servertest.Wait(t, "the job to fail", func(context.Context) (bool, error) {
		return len(conditions(getJob())) == 2, nil
	})
	j := getJob()
	want := []string{"Failed/BackoffLimitExceeded", "FailureTarget/BackoffLimitExceeded"}
	if diff := cmp.Diff(want, conditions(j)); diff != "" {
		t.Errorf("conditions (-want +got):\n%s", diff)
	}
	if j.Status.Failed != 3 || j.Status.Succeeded != 0 {
		t.Errorf("failed=%d succeeded=%d, want 3 and 0", j.Status.Failed, j.Status.Succeeded)
	}
	list, err := env.Client.CoreV1().Pods("default").List(ctx, metav1.ListOptions{LabelSelector: batchv1.JobNameLabel + "=fail"})
	if err != nil {
		t.Fatal(err)
	}
	if len(list.Items) != 3 {
		t.Errorf("job created %d pods, want 3", len(list.Items))
	}
	for _, p := range list.Items {
		if len(p.Finalizers) != 0 {
			t.Errorf("pod %s keeps finalizers %v", p.Name, p.Finalizers)
		}
	}
}

// TestIndexed runs an Indexed job to completion.
func TestIndexed(t *testing.T) {
	env := servertest.Start(t, nil)
	ctx := context.Background()
	if _, err := env.CreateNode(ctx, testobj.Node("n1").Capacity("4", "8Gi").Ready().Obj()); err != nil {
		t.Fatal(err)
	}
	env.StartKubelet(t, "n1")
	env.RunController(t, job.New, nil)
	three := int32(3)
	mode := batchv1.IndexedCompletion
	if _, err := env.Client.BatchV1().Jobs("default").Create(ctx, newJob("idx", func(j *batchv1.Job) {
		j.Spec.Completions, j.Spec.Parallelism, j.Spec.CompletionMode = &three, &three, &mode
	}), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	var pods []corev1.Pod
	servertest.Wait(t, "three running pods", func(context.Context) (bool, error) {
		var err error
		pods, err = runningPods(ctx, env, "idx")
		return err == nil && len(pods) == 3, err
	})
	var got []string
	for _, p := range pods {
		got = append(got, p.Annotations[batchv1.JobCompletionIndexAnnotation]+" "+p.Spec.Hostname+" "+
			p.Labels[batchv1.JobCompletionIndexAnnotation]+" "+p.Finalizers[0])
		if err := env.FinishPod(ctx, "default", p.Name, 0); err != nil {
			t.Fatal(err)
		}
	}
	sort.Strings(got)
	want := []string{
		"0 idx-0 0 batch.kubernetes.io/job-tracking",
		"1 idx-1 1 batch.kubernetes.io/job-tracking",
		"2 idx-2 2 batch.kubernetes.io/job-tracking",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("pod index, hostname, label, finalizer (-want +got):\n%s", diff)
	}
	var j *batchv1.Job
	servertest.Wait(t, "the job to complete", func(context.Context) (bool, error) {
		var err error
		j, err = env.Client.BatchV1().Jobs("default").Get(ctx, "idx", metav1.GetOptions{})
		return err == nil && j.Status.CompletionTime != nil, err
	})
	type summary struct {
		Succeeded  int32
		Completed  string
		Conditions []string
	}
	gotS := summary{j.Status.Succeeded, j.Status.CompletedIndexes, conditions(j)}
	wantS := summary{3, "0-2", []string{"Complete/CompletionsReached", "SuccessCriteriaMet/CompletionsReached"}}
	if diff := cmp.Diff(wantS, gotS); diff != "" {
		t.Errorf("status (-want +got):\n%s", diff)
	}
}

// TestBackoffLimitPerIndex runs an Indexed job whose indexes each fail
// differently: index 0 succeeds, index 1 matches a FailIndex rule and is
// failed without a retry, index 2 fails twice (its limit is one retry).
// The job fails with FailedIndexes once every index ended.
func TestBackoffLimitPerIndex(t *testing.T) {
	env := servertest.Start(t, nil)
	ctx := context.Background()
	if _, err := env.CreateNode(ctx, testobj.Node("n1").Capacity("4", "8Gi").Ready().Obj()); err != nil {
		t.Fatal(err)
	}
	env.StartKubelet(t, "n1")
	clk := testingclock.NewFakeClock(time.Now())
	env.RunController(t, job.New, clk)
	three, one := int32(3), int32(1)
	mode := batchv1.IndexedCompletion
	if _, err := env.Client.BatchV1().Jobs("default").Create(ctx, newJob("pi", func(j *batchv1.Job) {
		j.Spec.Completions, j.Spec.Parallelism, j.Spec.CompletionMode, j.Spec.BackoffLimitPerIndex = &three, &three, &mode, &one
		j.Spec.PodFailurePolicy = &batchv1.PodFailurePolicy{Rules: []batchv1.PodFailurePolicyRule{{
			Action:      batchv1.PodFailurePolicyActionFailIndex,
			OnExitCodes: &batchv1.PodFailurePolicyOnExitCodesRequirement{Operator: batchv1.PodFailurePolicyOnExitCodesOpIn, Values: []int32{42}},
		}}}
	}), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	getJob := func() *batchv1.Job {
		j, err := env.Client.BatchV1().Jobs("default").Get(ctx, "pi", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return j
	}
	// byIndex lists the running pods as index -> failure-count annotation.
	byIndex := func(pods []corev1.Pod) map[string]string {
		out := map[string]string{}
		for _, p := range pods {
			out[p.Annotations[batchv1.JobCompletionIndexAnnotation]] = p.Annotations[batchv1.JobIndexFailureCountAnnotation]
		}
		return out
	}
	var pods []corev1.Pod
	servertest.Wait(t, "three running pods", func(context.Context) (bool, error) {
		var err error
		pods, err = runningPods(ctx, env, "pi")
		return err == nil && len(pods) == 3, err
	})
	if diff := cmp.Diff(map[string]string{"0": "0", "1": "0", "2": "0"}, byIndex(pods)); diff != "" {
		t.Errorf("index -> failure count of the first pods (-want +got):\n%s", diff)
	}
	exit := map[string]int32{"0": 0, "1": 42, "2": 1}
	for _, p := range pods {
		if err := env.FinishPod(ctx, "default", p.Name, exit[p.Annotations[batchv1.JobCompletionIndexAnnotation]]); err != nil {
			t.Fatal(err)
		}
	}
	servertest.Wait(t, "index 1 to fail and index 0 to complete", func(context.Context) (bool, error) {
		j := getJob()
		return j.Status.Failed == 2 && j.Status.FailedIndexes != nil && *j.Status.FailedIndexes == "1" && j.Status.CompletedIndexes == "0", nil
	})
	// Index 2 waits out its backoff; then its second pod carries one failure.
	clk.Step(time.Minute)
	servertest.Wait(t, "index 2 to be retried", func(context.Context) (bool, error) {
		var err error
		pods, err = runningPods(ctx, env, "pi")
		return err == nil && len(pods) == 1, err
	})
	if diff := cmp.Diff(map[string]string{"2": "1"}, byIndex(pods)); diff != "" {
		t.Errorf("index -> failure count of the retry (-want +got):\n%s", diff)
	}
	if err := env.FinishPod(ctx, "default", pods[0].Name, 1); err != nil {
		t.Fatal(err)
	}
	servertest.Wait(t, "the job to fail", func(context.Context) (bool, error) {
		return finishedCondition(getJob()) != "", nil
	})
	j := getJob()
	type summary struct {
		Failed, Succeeded        int32
		Completed, FailedIndexes string
		Conditions               []string
	}
	got := summary{j.Status.Failed, j.Status.Succeeded, j.Status.CompletedIndexes, *j.Status.FailedIndexes, conditions(j)}
	want := summary{3, 1, "0", "1,2", []string{"Failed/FailedIndexes", "FailureTarget/FailedIndexes"}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("status (-want +got):\n%s", diff)
	}
	list, err := env.Client.CoreV1().Pods("default").List(ctx, metav1.ListOptions{LabelSelector: batchv1.JobNameLabel + "=pi"})
	if err != nil {
		t.Fatal(err)
	}
	if len(list.Items) != 4 {
		t.Errorf("job created %d pods, want 4 (no retry of index 1)", len(list.Items))
	}
}

// finishedCondition returns the type of a job's Complete or Failed
// condition, "" while it runs.
func finishedCondition(j *batchv1.Job) batchv1.JobConditionType {
	for _, c := range j.Status.Conditions {
		if (c.Type == batchv1.JobComplete || c.Type == batchv1.JobFailed) && c.Status == corev1.ConditionTrue {
			return c.Type
		}
	}
	return ""
}

// TestAdoptAndRelease orphans one of a job's pods, which the job adopts
// back, then removes the pod's labels, upon which the job releases it.
func TestAdoptAndRelease(t *testing.T) {
	env := servertest.Start(t, nil)
	ctx := context.Background()
	if _, err := env.CreateNode(ctx, testobj.Node("n1").Capacity("4", "8Gi").Ready().Obj()); err != nil {
		t.Fatal(err)
	}
	env.StartKubelet(t, "n1")
	env.RunController(t, job.New, nil)
	two := int32(2)
	j, err := env.Client.BatchV1().Jobs("default").Create(ctx, newJob("adopt", func(j *batchv1.Job) {
		j.Spec.Completions, j.Spec.Parallelism = &two, &two
	}), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var pods []corev1.Pod
	servertest.Wait(t, "two running pods", func(context.Context) (bool, error) {
		pods, err = runningPods(ctx, env, "adopt")
		return err == nil && len(pods) == 2, err
	})
	name := pods[0].Name
	update := func(mut func(*corev1.Pod)) {
		t.Helper()
		for {
			p, err := env.Client.CoreV1().Pods("default").Get(ctx, name, metav1.GetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			mut(p)
			_, err = env.Client.CoreV1().Pods("default").Update(ctx, p, metav1.UpdateOptions{})
			if err == nil {
				return
			}
			if !apierrors.IsConflict(err) {
				t.Fatal(err)
			}
		}
	}
	controller := func() (*metav1.OwnerReference, []string, error) {
		p, err := env.Client.CoreV1().Pods("default").Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return nil, nil, err
		}
		return metav1.GetControllerOf(p), p.Finalizers, nil
	}
	update(func(p *corev1.Pod) { p.OwnerReferences = nil })
	servertest.Wait(t, "the pod to be adopted", func(context.Context) (bool, error) {
		ref, _, err := controller()
		return ref != nil && ref.UID == j.UID, err
	})
	update(func(p *corev1.Pod) { p.Labels = nil })
	servertest.Wait(t, "the pod to be released without the tracking finalizer", func(context.Context) (bool, error) {
		ref, fin, err := controller()
		return ref == nil && len(fin) == 0, err
	})
}

// TestDeletedJobLetsPodsGo deletes a job and then its running pod: the
// pod, which carries the tracking finalizer, must still go away.
func TestDeletedJobLetsPodsGo(t *testing.T) {
	env := servertest.Start(t, nil)
	ctx := context.Background()
	if _, err := env.CreateNode(ctx, testobj.Node("n1").Capacity("4", "8Gi").Ready().Obj()); err != nil {
		t.Fatal(err)
	}
	env.StartKubelet(t, "n1")
	env.RunController(t, job.New, nil)
	if _, err := env.Client.BatchV1().Jobs("default").Create(ctx, newJob("gone", func(*batchv1.Job) {}), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	var pods []corev1.Pod
	servertest.Wait(t, "a running pod", func(context.Context) (bool, error) {
		var err error
		pods, err = runningPods(ctx, env, "gone")
		return err == nil && len(pods) == 1, err
	})
	if err := env.Client.BatchV1().Jobs("default").Delete(ctx, "gone", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := env.Client.CoreV1().Pods("default").Delete(ctx, pods[0].Name, metav1.DeleteOptions{GracePeriodSeconds: ptr.To[int64](0)}); err != nil {
		t.Fatal(err)
	}
	servertest.Wait(t, "the pod to be gone", func(context.Context) (bool, error) {
		_, err := env.Client.CoreV1().Pods("default").Get(ctx, pods[0].Name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return true, nil
		}
		return false, err
	})
}
