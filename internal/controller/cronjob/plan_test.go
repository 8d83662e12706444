package cronjob

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
)

func TestDecide(t *testing.T) {
	created := time.Date(2026, 1, 1, 10, 0, 0, 0, time.UTC)
	at := func(m int) time.Time { return created.Add(time.Duration(m) * time.Minute) }
	cronJob := func(mut ...func(*batchv1.CronJob)) *batchv1.CronJob {
		cj := &batchv1.CronJob{
			ObjectMeta: metav1.ObjectMeta{Name: "cj", Namespace: "ns", UID: "cj", CreationTimestamp: metav1.NewTime(created)},
			Spec:       batchv1.CronJobSpec{Schedule: "*/5 * * * *", TimeZone: ptr.To("UTC")},
		}
		for _, m := range mut {
			m(cj)
		}
		return cj
	}
	lastScheduled := func(m int) func(*batchv1.CronJob) {
		return func(cj *batchv1.CronJob) { cj.Status.LastScheduleTime = ptr.To(metav1.NewTime(at(m))) }
	}
	job := func(name string, startedMin int, cond batchv1.JobConditionType) *batchv1.Job {
		j := &batchv1.Job{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns", UID: types.UID(name)},
			Status: batchv1.JobStatus{StartTime: ptr.To(metav1.NewTime(at(startedMin)))}}
		if cond != "" {
			j.Status.Conditions = []batchv1.JobCondition{{Type: cond, Status: corev1.ConditionTrue}}
		}
		if cond == batchv1.JobComplete {
			j.Status.CompletionTime = ptr.To(metav1.NewTime(at(startedMin + 1)))
		}
		return j
	}
	// result is the part of a plan a reader checks.
	type result struct {
		Active        []string
		LastSchedule  time.Time
		LastSuccess   time.Time
		Prune         []string
		Events        []string
		Replace       []string
		Create        string
		RequeueAfter  time.Duration
		ScheduledNote string // the created Job's scheduled-timestamp annotation
	}
	tests := []struct {
		name  string
		cj    *batchv1.CronJob
		owned []*batchv1.Job
		now   time.Time
		want  result
	}{{
		name: "before the first time: wait for it",
		cj:   cronJob(),
		now:  at(3),
		want: result{RequeueAfter: 2*time.Minute + 100*time.Millisecond},
	}, {
		name: "a schedule time passed: create its job",
		cj:   cronJob(),
		now:  at(6),
		want: result{LastSchedule: at(5), Create: JobName("cj", at(5)), ScheduledNote: "2026-01-01T10:05:00Z",
			RequeueAfter: 4*time.Minute + 100*time.Millisecond},
	}, {
		name: "several passed: only the most recent",
		cj:   cronJob(),
		now:  at(16),
		want: result{LastSchedule: at(15), Create: JobName("cj", at(15)), ScheduledNote: "2026-01-01T10:15:00Z",
			RequeueAfter: 4*time.Minute + 100*time.Millisecond},
	}, {
		name:  "its job exists already (a lost status write): record the time only",
		cj:    cronJob(),
		owned: []*batchv1.Job{job(JobName("cj", at(5)), 5, "")},
		now:   at(6),
		want: result{Active: []string{JobName("cj", at(5))}, LastSchedule: at(5),
			RequeueAfter: 4*time.Minute + 100*time.Millisecond},
	}, {
		name: "a time older than the starting deadline is skipped",
		cj:   cronJob(lastScheduled(0), func(cj *batchv1.CronJob) { cj.Spec.StartingDeadlineSeconds = ptr.To[int64](120) }),
		now:  at(9),
		want: result{LastSchedule: at(0), RequeueAfter: time.Minute + 100*time.Millisecond},
	}, {
		name: "a time within the starting deadline still starts",
		cj:   cronJob(lastScheduled(0), func(cj *batchv1.CronJob) { cj.Spec.StartingDeadlineSeconds = ptr.To[int64](300) }),
		now:  at(9),
		want: result{LastSchedule: at(5), Create: JobName("cj", at(5)), ScheduledNote: "2026-01-01T10:05:00Z",
			RequeueAfter: time.Minute + 100*time.Millisecond},
	}, {
		name:  "Forbid with a job running: no new job",
		cj:    cronJob(lastScheduled(0), func(cj *batchv1.CronJob) { cj.Spec.ConcurrencyPolicy = batchv1.ForbidConcurrent }),
		owned: []*batchv1.Job{job("old", 0, "")},
		now:   at(6),
		want: result{Active: []string{"old"}, LastSchedule: at(0), Events: []string{"Normal/JobAlreadyActive"},
			RequeueAfter: 4*time.Minute + 100*time.Millisecond},
	}, {
		name:  "Replace deletes the running job first",
		cj:    cronJob(lastScheduled(0), func(cj *batchv1.CronJob) { cj.Spec.ConcurrencyPolicy = batchv1.ReplaceConcurrent }),
		owned: []*batchv1.Job{job("old", 0, "")},
		now:   at(6),
		want: result{LastSchedule: at(5), Replace: []string{"old"}, Create: JobName("cj", at(5)),
			ScheduledNote: "2026-01-01T10:05:00Z", RequeueAfter: 4*time.Minute + 100*time.Millisecond},
	}, {
		name:  "Allow runs jobs side by side",
		cj:    cronJob(lastScheduled(0)),
		owned: []*batchv1.Job{job("old", 0, "")},
		now:   at(6),
		want: result{Active: []string{"old"}, LastSchedule: at(5), Create: JobName("cj", at(5)),
			ScheduledNote: "2026-01-01T10:05:00Z", RequeueAfter: 4*time.Minute + 100*time.Millisecond},
	}, {
		name: "suspended: history and status only",
		cj:   cronJob(func(cj *batchv1.CronJob) { cj.Spec.Suspend = ptr.To(true) }),
		owned: []*batchv1.Job{
			job("f1", 0, batchv1.JobFailed), job("f2", 5, batchv1.JobFailed), job("run", 10, ""),
		},
		now:  at(11),
		want: result{Active: []string{"run"}, Prune: []string{"f1"}},
	}, {
		name: "history limits keep the newest finished jobs",
		cj: cronJob(lastScheduled(30), func(cj *batchv1.CronJob) {
			cj.Spec.SuccessfulJobsHistoryLimit = ptr.To[int32](1)
			cj.Spec.FailedJobsHistoryLimit = ptr.To[int32](0)
		}),
		owned: []*batchv1.Job{
			job("c2", 10, batchv1.JobComplete), job("c1", 5, batchv1.JobComplete), job("f1", 15, batchv1.JobFailed),
		},
		now: at(31),
		want: result{LastSchedule: at(30), LastSuccess: at(11), Prune: []string{"c1", "f1"},
			RequeueAfter: 4*time.Minute + 100*time.Millisecond},
	}, {
		name: "an unparseable schedule: an event, no requeue",
		cj:   cronJob(func(cj *batchv1.CronJob) { cj.Spec.Schedule = "not a schedule" }),
		now:  at(6),
		want: result{Events: []string{"Warning/UnparseableSchedule"}},
	}, {
		name: "being deleted: no new job",
		cj:   cronJob(func(cj *batchv1.CronJob) { cj.DeletionTimestamp = ptr.To(metav1.NewTime(at(1))) }),
		now:  at(6),
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := decide(tt.cj, tt.owned, tt.now)
			got := result{RequeueAfter: p.requeueAfter}
			for _, r := range p.status.Active {
				got.Active = append(got.Active, r.Name)
			}
			if p.status.LastScheduleTime != nil {
				got.LastSchedule = p.status.LastScheduleTime.Time
			}
			if p.status.LastSuccessfulTime != nil {
				got.LastSuccess = p.status.LastSuccessfulTime.Time
			}
			for _, j := range p.prune {
				got.Prune = append(got.Prune, j.Name)
			}
			for _, e := range p.events {
				got.Events = append(got.Events, e.eventType+"/"+e.reason)
			}
			for _, r := range p.replace {
				got.Replace = append(got.Replace, r.Name)
			}
			if p.create != nil {
				got.Create = p.create.Name
				got.ScheduledNote = p.create.Annotations[ScheduledTimestampAnnotation]
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("decide (-want +got):\n%s", diff)
			}
		})
	}
}
