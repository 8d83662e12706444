package batch

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"skiff/internal/apiserver/registry"
)

func res(t *testing.T, name string) registry.Resource {
	t.Helper()
	for _, r := range Resources() {
		if r.Resource == name {
			return r
		}
	}
	t.Fatalf("no resource %q", name)
	return registry.Resource{}
}

func fieldErrs(errs field.ErrorList) []string {
	var out []string
	for _, e := range errs {
		out = append(out, e.Field+": "+string(e.Type))
	}
	return out
}

func podTemplate() corev1.PodTemplateSpec {
	return corev1.PodTemplateSpec{Spec: corev1.PodSpec{
		RestartPolicy: corev1.RestartPolicyNever,
		Containers:    []corev1.Container{{Name: "pi", Image: "perl:5.34"}},
	}}
}

func newJob(mut func(*batchv1.Job)) *batchv1.Job {
	j := &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{Name: "pi", Namespace: "default", UID: "uid-1"},
		Spec:       batchv1.JobSpec{Template: podTemplate()},
	}
	if mut != nil {
		mut(j)
	}
	return j
}

// create runs the store's create pipeline on obj.
func create(s registry.Strategy, j *batchv1.Job) field.ErrorList {
	s.Default(j)
	s.PrepareForCreate(j)
	return s.Validate(j)
}

func TestJobDefaults(t *testing.T) {
	tests := []struct {
		name                     string
		completions, parallelism *int32
		wantC, wantP             *int32
	}{
		{name: "both unset", wantC: int32Ptr(1), wantP: int32Ptr(1)},
		{name: "parallelism only", parallelism: int32Ptr(3), wantP: int32Ptr(3)},
		{name: "completions only", completions: int32Ptr(5), wantC: int32Ptr(5), wantP: int32Ptr(1)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			j := newJob(func(j *batchv1.Job) { j.Spec.Completions, j.Spec.Parallelism = tt.completions, tt.parallelism })
			res(t, "jobs").Strategy.Default(j)
			if diff := cmp.Diff([]*int32{tt.wantC, tt.wantP}, []*int32{j.Spec.Completions, j.Spec.Parallelism}); diff != "" {
				t.Errorf("completions, parallelism (-want +got):\n%s", diff)
			}
			if *j.Spec.BackoffLimit != 6 || *j.Spec.CompletionMode != batchv1.NonIndexedCompletion || *j.Spec.Suspend ||
				*j.Spec.PodReplacementPolicy != batchv1.TerminatingOrFailed {
				t.Errorf("defaults: %+v", j.Spec)
			}
		})
	}
}

func TestJobGeneratedSelector(t *testing.T) {
	s := res(t, "jobs").Strategy
	j := newJob(nil)
	if errs := create(s, j); len(errs) != 0 {
		t.Fatalf("valid job rejected: %v", errs)
	}
	wantLabels := map[string]string{
		ControllerUIDLabel: "uid-1", LegacyControllerUIDLabel: "uid-1",
		JobNameLabel: "pi", LegacyJobNameLabel: "pi",
	}
	if diff := cmp.Diff(wantLabels, j.Spec.Template.Labels); diff != "" {
		t.Errorf("template labels (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(map[string]string{ControllerUIDLabel: "uid-1"}, j.Spec.Selector.MatchLabels); diff != "" {
		t.Errorf("selector (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(wantLabels, j.Labels); diff != "" {
		t.Errorf("job labels (-want +got):\n%s", diff)
	}

	manual := newJob(func(j *batchv1.Job) {
		j.Spec.ManualSelector = boolPtr(true)
		j.Spec.Selector = &metav1.LabelSelector{MatchLabels: map[string]string{"app": "pi"}}
		j.Spec.Template.Labels = map[string]string{"app": "pi"}
	})
	if errs := create(s, manual); len(errs) != 0 {
		t.Fatalf("manual selector rejected: %v", errs)
	}
	if _, ok := manual.Spec.Template.Labels[ControllerUIDLabel]; ok {
		t.Errorf("manual selector got generated labels: %v", manual.Spec.Template.Labels)
	}
}

// indexedJob makes a job Indexed with completions, then applies mut.
func indexedJob(completions int32, mut func(*batchv1.Job)) func(*batchv1.Job) {
	return func(j *batchv1.Job) {
		m := batchv1.IndexedCompletion
		j.Spec.CompletionMode, j.Spec.Completions = &m, int32Ptr(completions)
		mut(j)
	}
}

func exitCodes(action batchv1.PodFailurePolicyAction, values ...int32) batchv1.PodFailurePolicyRule {
	return batchv1.PodFailurePolicyRule{Action: action, OnExitCodes: &batchv1.PodFailurePolicyOnExitCodesRequirement{
		Operator: batchv1.PodFailurePolicyOnExitCodesOpIn, Values: values}}
}

func TestJobValidate(t *testing.T) {
	tests := []struct {
		name string
		job  *batchv1.Job
		want []string
	}{
		{
			name: "restartPolicy Always",
			job:  newJob(func(j *batchv1.Job) { j.Spec.Template.Spec.RestartPolicy = corev1.RestartPolicyAlways }),
			want: []string{"spec.template.spec.restartPolicy: FieldValueNotSupported"},
		},
		{
			name: "wrong controller-uid label",
			job:  newJob(func(j *batchv1.Job) { j.Spec.Template.Labels = map[string]string{ControllerUIDLabel: "other"} }),
			want: []string{
				"spec.template.metadata.labels[batch.kubernetes.io/controller-uid]: FieldValueInvalid",
				"spec.template.metadata.labels: FieldValueInvalid",
			},
		},
		{
			name: "manual selector missing",
			job:  newJob(func(j *batchv1.Job) { j.Spec.ManualSelector = boolPtr(true) }),
			want: []string{"spec.selector: FieldValueRequired"},
		},
		{
			name: "negative parallelism",
			job:  newJob(func(j *batchv1.Job) { j.Spec.Parallelism = int32Ptr(-1) }),
			want: []string{"spec.parallelism: FieldValueInvalid"},
		},
		{
			name: "backoffLimitPerIndex and maxFailedIndexes on an indexed job",
			job:  newJob(indexedJob(4, func(j *batchv1.Job) { j.Spec.BackoffLimitPerIndex, j.Spec.MaxFailedIndexes = int32Ptr(1), int32Ptr(2) })),
		},
		{
			name: "maxFailedIndexes without backoffLimitPerIndex, above completions",
			job:  newJob(indexedJob(4, func(j *batchv1.Job) { j.Spec.MaxFailedIndexes = int32Ptr(5) })),
			want: []string{"spec.backoffLimitPerIndex: FieldValueRequired", "spec.maxFailedIndexes: FieldValueInvalid"},
		},
		{
			name: "per-index fields on a NonIndexed job",
			job:  newJob(func(j *batchv1.Job) { j.Spec.BackoffLimitPerIndex, j.Spec.MaxFailedIndexes = int32Ptr(1), int32Ptr(1) }),
			want: []string{"spec.backoffLimitPerIndex: FieldValueInvalid", "spec.maxFailedIndexes: FieldValueInvalid"},
		},
		{
			name: "negative backoffLimitPerIndex",
			job:  newJob(indexedJob(4, func(j *batchv1.Job) { j.Spec.BackoffLimitPerIndex = int32Ptr(-1) })),
			want: []string{"spec.backoffLimitPerIndex: FieldValueInvalid"},
		},
		{
			name: "FailIndex needs backoffLimitPerIndex",
			job: newJob(indexedJob(4, func(j *batchv1.Job) {
				j.Spec.PodFailurePolicy = &batchv1.PodFailurePolicy{Rules: []batchv1.PodFailurePolicyRule{exitCodes(batchv1.PodFailurePolicyActionFailIndex, 1)}}
			})),
			want: []string{"spec.podFailurePolicy.rules[0].action: FieldValueInvalid"},
		},
		{
			name: "a valid pod failure policy",
			job: newJob(indexedJob(4, func(j *batchv1.Job) {
				j.Spec.BackoffLimitPerIndex = int32Ptr(1)
				j.Spec.PodFailurePolicy = &batchv1.PodFailurePolicy{Rules: []batchv1.PodFailurePolicyRule{
					exitCodes(batchv1.PodFailurePolicyActionFailIndex, 1, 2),
					{Action: batchv1.PodFailurePolicyActionIgnore, OnPodConditions: []batchv1.PodFailurePolicyOnPodConditionsPattern{{Type: corev1.DisruptionTarget}}},
				}}
			})),
		},
		{
			name: "pod failure policy rules with bad parts",
			job: newJob(func(j *batchv1.Job) {
				bad := exitCodes(batchv1.PodFailurePolicyActionCount, 0, 3, 2)
				bad.OnExitCodes.ContainerName = strPtr("nope")
				j.Spec.PodFailurePolicy = &batchv1.PodFailurePolicy{Rules: []batchv1.PodFailurePolicyRule{
					{Action: "Retry"},
					bad,
					{Action: batchv1.PodFailurePolicyActionIgnore, OnExitCodes: exitCodes("", 1).OnExitCodes, OnPodConditions: []batchv1.PodFailurePolicyOnPodConditionsPattern{{Type: "Ready", Status: "Maybe"}}},
				}}
			}),
			want: []string{
				"spec.podFailurePolicy.rules[0].action: FieldValueNotSupported",
				"spec.podFailurePolicy.rules[0]: FieldValueInvalid",
				"spec.podFailurePolicy.rules[1].onExitCodes.containerName: FieldValueInvalid",
				"spec.podFailurePolicy.rules[1].onExitCodes.values[0]: FieldValueInvalid",
				"spec.podFailurePolicy.rules[1].onExitCodes.values: FieldValueInvalid",
				"spec.podFailurePolicy.rules[2].onPodConditions[0].status: FieldValueNotSupported",
				"spec.podFailurePolicy.rules[2]: FieldValueInvalid",
			},
		},
		{
			name: "a valid success policy",
			job: newJob(indexedJob(5, func(j *batchv1.Job) {
				j.Spec.SuccessPolicy = &batchv1.SuccessPolicy{Rules: []batchv1.SuccessPolicyRule{
					{SucceededIndexes: strPtr("0,2-4"), SucceededCount: int32Ptr(2)}, {SucceededCount: int32Ptr(5)},
				}}
			})),
		},
		{
			name: "success policy rules with bad parts",
			job: newJob(indexedJob(5, func(j *batchv1.Job) {
				j.Spec.SuccessPolicy = &batchv1.SuccessPolicy{Rules: []batchv1.SuccessPolicyRule{
					{}, {SucceededIndexes: strPtr("3,1")}, {SucceededIndexes: strPtr("0-5")},
					{SucceededIndexes: strPtr("1-2"), SucceededCount: int32Ptr(3)}, {SucceededCount: int32Ptr(6)},
				}}
			})),
			want: []string{
				"spec.successPolicy.rules[0]: FieldValueRequired",
				"spec.successPolicy.rules[1].succeededIndexes: FieldValueInvalid",
				"spec.successPolicy.rules[2].succeededIndexes: FieldValueInvalid",
				"spec.successPolicy.rules[3].succeededCount: FieldValueInvalid",
				"spec.successPolicy.rules[4].succeededCount: FieldValueInvalid",
			},
		},
		{
			name: "success policy on a NonIndexed job",
			job: newJob(func(j *batchv1.Job) {
				j.Spec.SuccessPolicy = &batchv1.SuccessPolicy{Rules: []batchv1.SuccessPolicyRule{{SucceededCount: int32Ptr(1)}}}
			}),
			want: []string{"spec.successPolicy: FieldValueInvalid"},
		},
		{
			name: "managedBy must be a domain-prefixed path",
			job:  newJob(func(j *batchv1.Job) { j.Spec.ManagedBy = strPtr("job-controller") }),
			want: []string{"spec.managedBy: FieldValueInvalid"},
		},
		{
			name: "managedBy by another controller",
			job:  newJob(func(j *batchv1.Job) { j.Spec.ManagedBy = strPtr("example.com/queue") }),
		},
	}
	s := res(t, "jobs").Strategy
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, fieldErrs(create(s, tt.job))); diff != "" {
				t.Errorf("errors (-want +got):\n%s", diff)
			}
		})
	}
}

func TestJobUpdate(t *testing.T) {
	s := res(t, "jobs").Strategy
	old := newJob(nil)
	create(s, old)

	changed := old.DeepCopy()
	changed.Spec.Template.Spec.Containers[0].Image = "perl:5.36"
	if diff := cmp.Diff([]string{"spec.template: FieldValueInvalid"}, fieldErrs(s.ValidateUpdate(changed, old))); diff != "" {
		t.Errorf("template change on a running job (-want +got):\n%s", diff)
	}
	suspended := old.DeepCopy()
	suspended.Spec.Suspend = boolPtr(true)
	changed = suspended.DeepCopy()
	changed.Spec.Template.Spec.Containers[0].Image = "perl:5.36"
	if errs := s.ValidateUpdate(changed, suspended); len(errs) != 0 {
		t.Errorf("template change on a suspended job rejected: %v", errs)
	}
	more := old.DeepCopy()
	more.Spec.Completions = int32Ptr(3)
	if diff := cmp.Diff([]string{"spec.completions: FieldValueInvalid"}, fieldErrs(s.ValidateUpdate(more, old))); diff != "" {
		t.Errorf("completions change (-want +got):\n%s", diff)
	}
	policies := old.DeepCopy()
	policies.Spec.ManagedBy = strPtr("example.com/queue")
	policies.Spec.SuccessPolicy = &batchv1.SuccessPolicy{Rules: []batchv1.SuccessPolicyRule{{SucceededCount: int32Ptr(1)}}}
	want := []string{"spec.successPolicy: FieldValueInvalid", "spec.managedBy: FieldValueInvalid"}
	if diff := cmp.Diff(want, fieldErrs(s.ValidateUpdate(policies, old))); diff != "" {
		t.Errorf("successPolicy and managedBy change (-want +got):\n%s", diff)
	}
}

func TestJobTable(t *testing.T) {
	start := metav1.NewTime(time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC))
	end := metav1.NewTime(start.Add(90 * time.Second))
	tests := []struct {
		name string
		job  *batchv1.Job
		want []interface{}
	}{
		{
			name: "complete",
			job: newJob(func(j *batchv1.Job) {
				j.Spec.Completions = int32Ptr(1)
				j.Spec.Selector = &metav1.LabelSelector{MatchLabels: map[string]string{ControllerUIDLabel: "uid-1"}}
				j.Status = batchv1.JobStatus{Succeeded: 1, StartTime: &start, CompletionTime: &end,
					Conditions: []batchv1.JobCondition{{Type: batchv1.JobComplete, Status: corev1.ConditionTrue}}}
			}),
			want: []interface{}{"Complete", "1/1", "90s", "<unknown>", "pi", "perl:5.34", "batch.kubernetes.io/controller-uid=uid-1"},
		},
		{
			name: "parallel without completions",
			job:  newJob(func(j *batchv1.Job) { j.Spec.Parallelism = int32Ptr(3) }),
			want: []interface{}{"Running", "0/1 of 3", "", "<unknown>", "pi", "perl:5.34", "<none>"},
		},
	}
	s := res(t, "jobs").Strategy
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := s.TableRow(tt.job)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("row (-want +got):\n%s", diff)
			}
			if len(got) != len(s.TableColumns) {
				t.Errorf("%d cells for %d columns", len(got), len(s.TableColumns))
			}
		})
	}
	if got := s.Fields(newJob(func(j *batchv1.Job) { j.Status.Succeeded = 2 }))["status.successful"]; got != "2" {
		t.Errorf("status.successful = %q", got)
	}
}

func newCronJob(mut func(*batchv1.CronJob)) *batchv1.CronJob {
	cj := &batchv1.CronJob{
		ObjectMeta: metav1.ObjectMeta{Name: "hello", Namespace: "default"},
		Spec: batchv1.CronJobSpec{
			Schedule:    "*/5 * * * *",
			JobTemplate: batchv1.JobTemplateSpec{Spec: batchv1.JobSpec{Template: podTemplate()}},
		},
	}
	if mut != nil {
		mut(cj)
	}
	return cj
}

func TestCronJob(t *testing.T) {
	s := res(t, "cronjobs").Strategy
	cj := newCronJob(nil)
	s.Default(cj)
	if cj.Spec.ConcurrencyPolicy != batchv1.AllowConcurrent || *cj.Spec.Suspend || *cj.Spec.SuccessfulJobsHistoryLimit != 3 || *cj.Spec.FailedJobsHistoryLimit != 1 {
		t.Errorf("defaults: %+v", cj.Spec)
	}

	tests := []struct {
		name string
		cj   *batchv1.CronJob
		want []string
	}{
		{name: "valid", cj: newCronJob(nil)},
		{name: "valid with time zone", cj: newCronJob(func(c *batchv1.CronJob) { c.Spec.TimeZone = strPtr("Europe/Paris") })},
		{name: "unparseable schedule", cj: newCronJob(func(c *batchv1.CronJob) { c.Spec.Schedule = "every minute" }), want: []string{"spec.schedule: FieldValueInvalid"}},
		{name: "no schedule", cj: newCronJob(func(c *batchv1.CronJob) { c.Spec.Schedule = "" }), want: []string{"spec.schedule: FieldValueRequired"}},
		{name: "TZ in schedule", cj: newCronJob(func(c *batchv1.CronJob) { c.Spec.Schedule = "CRON_TZ=UTC 0 * * * *" }), want: []string{"spec.schedule: FieldValueInvalid"}},
		{name: "unknown time zone", cj: newCronJob(func(c *batchv1.CronJob) { c.Spec.TimeZone = strPtr("Mars/Olympus") }), want: []string{"spec.timeZone: FieldValueInvalid"}},
		{
			name: "restartPolicy Always",
			cj: newCronJob(func(c *batchv1.CronJob) {
				c.Spec.JobTemplate.Spec.Template.Spec.RestartPolicy = corev1.RestartPolicyAlways
			}),
			want: []string{"spec.jobTemplate.spec.template.spec.restartPolicy: FieldValueNotSupported"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s.Default(tt.cj)
			if diff := cmp.Diff(tt.want, fieldErrs(s.Validate(tt.cj))); diff != "" {
				t.Errorf("errors (-want +got):\n%s", diff)
			}
		})
	}

	bad := newCronJob(func(c *batchv1.CronJob) { c.Spec.Schedule = "foo" })
	s.Default(bad)
	if errs := s.Validate(bad); len(errs) != 1 || errs[0].Error() != `spec.schedule: Invalid value: "foo": expected exactly 5 fields, found 1: [foo]` {
		t.Errorf("schedule message: %v", errs)
	}
	if msgs := s.NameValidation("a-very-long-cronjob-name-that-is-longer-than-fifty-two", false); len(msgs) != 1 || msgs[0] != "must be no more than 52 characters" {
		t.Errorf("name validation: %v", msgs)
	}

	cj.Spec.TimeZone = strPtr("Etc/UTC")
	cj.Status.Active = []corev1.ObjectReference{{Name: "hello-1"}}
	want := []interface{}{"*/5 * * * *", "Etc/UTC", "False", int64(1), "<none>", "<unknown>", "pi", "perl:5.34", "<none>"}
	if diff := cmp.Diff(want, s.TableRow(cj)); diff != "" {
		t.Errorf("row (-want +got):\n%s", diff)
	}
}

func boolPtr(b bool) *bool    { return &b }
func strPtr(s string) *string { return &s }
