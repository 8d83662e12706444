package cronjob

import (
	"fmt"
	"sort"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"skiff/internal/controller/reconcile"
)

// event is an Event to record on the CronJob.
type event struct {
	eventType, reason, action, note string
}

// plan is what one sync of a CronJob does, in this order: delete the
// finished Jobs beyond the history limits, record events, delete the
// running Jobs a Replace policy replaces, create the Job of the most
// recent schedule time, and write the status.
type plan struct {
	// status is the CronJob's new status, written when it differs; a
	// created Job joins its active list.
	status *batchv1.CronJobStatus
	prune  []*batchv1.Job
	events []event
	// replace are the running Jobs to delete before create.
	replace []corev1.ObjectReference
	// create is the Job to start, nil for none.
	create *batchv1.Job
	// requeueAfter is when to look again: just after the next schedule
	// time.
	requeueAfter time.Duration
}

// decide works out a sync of cj, whose Jobs are owned, at now.
func decide(cj *batchv1.CronJob, owned []*batchv1.Job, now time.Time) plan {
	st := cj.Status.DeepCopy()
	reconcileActive(st, owned)
	p := plan{status: st, prune: historyToPrune(cj, owned)}
	if cj.DeletionTimestamp != nil || cj.Spec.Suspend != nil && *cj.Spec.Suspend {
		return p
	}
	sched, err := parseSchedule(cj.Spec.Schedule, cj.Spec.TimeZone)
	if err != nil {
		// Nothing to retry until the spec changes.
		p.events = append(p.events, event{corev1.EventTypeWarning, "UnparseableSchedule", "Schedule",
			fmt.Sprintf("unparseable schedule: %q : %s", cj.Spec.Schedule, err)})
		return p
	}
	earliest := cj.CreationTimestamp.Time
	if st.LastScheduleTime != nil {
		earliest = st.LastScheduleTime.Time
	}
	if d := cj.Spec.StartingDeadlineSeconds; d != nil {
		if floor := now.Add(-time.Duration(*d) * time.Second); floor.After(earliest) {
			earliest = floor
		}
	}
	scheduled, ok, next, err := mostRecent(sched, earliest, now)
	if err != nil {
		p.events = append(p.events, event{corev1.EventTypeWarning, "TooManyMissedTimes", "Schedule",
			"too many missed start times. Set or decrease .spec.startingDeadlineSeconds or check clock skew"})
	}
	p.requeueAfter = next.Sub(now) + 100*time.Millisecond
	if !ok {
		return p
	}
	if d := cj.Spec.StartingDeadlineSeconds; d != nil && scheduled.Add(time.Duration(*d)*time.Second).Before(now) {
		p.events = append(p.events, event{corev1.EventTypeWarning, "MissedSchedule", "Schedule",
			"Missed scheduled time to start a job: " + scheduled.UTC().Format(time.RFC1123Z)})
		return p
	}
	jobName := JobName(cj.Name, scheduled)
	t := metav1.NewTime(scheduled)
	for _, j := range owned {
		if j.Name == jobName {
			// Already started for this time (a retry after a lost status write).
			st.LastScheduleTime = &t
			return p
		}
	}
	switch cj.Spec.ConcurrencyPolicy {
	case batchv1.ForbidConcurrent:
		if len(st.Active) > 0 {
			p.events = append(p.events, event{corev1.EventTypeNormal, "JobAlreadyActive", "Schedule",
				"Not starting job because prior execution is running and concurrency policy is Forbid"})
			return p
		}
	case batchv1.ReplaceConcurrent:
		p.replace, st.Active = st.Active, nil
	}
	p.create = newJob(cj, jobName, scheduled)
	st.LastScheduleTime = &t
	return p
}

func inActive(st *batchv1.CronJobStatus, j *batchv1.Job) bool {
	for _, r := range st.Active {
		if r.UID == j.UID {
			return true
		}
	}
	return false
}

func jobRef(j *batchv1.Job) corev1.ObjectReference {
	return corev1.ObjectReference{Kind: "Job", APIVersion: "batch/v1", Namespace: j.Namespace, Name: j.Name,
		UID: j.UID, ResourceVersion: j.ResourceVersion}
}

// reconcileActive makes status.active list exactly the owned unfinished
// Jobs and records the newest successful completion.
func reconcileActive(st *batchv1.CronJobStatus, owned []*batchv1.Job) {
	byUID := map[string]*batchv1.Job{}
	for _, j := range owned {
		byUID[string(j.UID)] = j
	}
	var active []corev1.ObjectReference
	for _, r := range st.Active {
		j, ok := byUID[string(r.UID)]
		if !ok {
			continue // deleted
		}
		if _, done := finished(j); done {
			continue
		}
		active = append(active, r)
	}
	st.Active = active
	for _, j := range owned {
		typ, done := finished(j)
		if !done && !inActive(st, j) {
			st.Active = append(st.Active, jobRef(j))
		}
		if typ == batchv1.JobComplete && j.Status.CompletionTime != nil &&
			(st.LastSuccessfulTime == nil || j.Status.CompletionTime.After(st.LastSuccessfulTime.Time)) {
			t := *j.Status.CompletionTime
			st.LastSuccessfulTime = &t
		}
	}
	sort.Slice(st.Active, func(i, k int) bool { return st.Active[i].Name < st.Active[k].Name })
}

// historyToPrune returns the oldest finished Jobs beyond the history
// limits, the complete ones first.
func historyToPrune(cj *batchv1.CronJob, owned []*batchv1.Job) []*batchv1.Job {
	limits := map[batchv1.JobConditionType]int{batchv1.JobComplete: 3, batchv1.JobFailed: 1}
	if cj.Spec.SuccessfulJobsHistoryLimit != nil {
		limits[batchv1.JobComplete] = int(*cj.Spec.SuccessfulJobsHistoryLimit)
	}
	if cj.Spec.FailedJobsHistoryLimit != nil {
		limits[batchv1.JobFailed] = int(*cj.Spec.FailedJobsHistoryLimit)
	}
	byType := map[batchv1.JobConditionType][]*batchv1.Job{}
	for _, j := range owned {
		if typ, done := finished(j); done && j.DeletionTimestamp == nil {
			byType[typ] = append(byType[typ], j)
		}
	}
	var out []*batchv1.Job
	for _, typ := range []batchv1.JobConditionType{batchv1.JobComplete, batchv1.JobFailed} {
		jobs := byType[typ]
		sort.Slice(jobs, func(i, k int) bool { return startOf(jobs[i]).Before(startOf(jobs[k])) })
		for i := 0; i < len(jobs)-limits[typ]; i++ {
			out = append(out, jobs[i])
		}
	}
	return out
}

func startOf(j *batchv1.Job) time.Time {
	if j.Status.StartTime != nil {
		return j.Status.StartTime.Time
	}
	return j.CreationTimestamp.Time
}

func newJob(cj *batchv1.CronJob, name string, scheduled time.Time) *batchv1.Job {
	t := cj.Spec.JobTemplate.DeepCopy()
	ann := map[string]string{}
	for k, v := range t.Annotations {
		ann[k] = v
	}
	loc := time.Local
	if cj.Spec.TimeZone != nil {
		if l, err := time.LoadLocation(*cj.Spec.TimeZone); err == nil {
			loc = l
		}
	}
	ann[ScheduledTimestampAnnotation] = scheduled.In(loc).Format(time.RFC3339)
	return &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{
			Name: name, Namespace: cj.Namespace, Labels: t.Labels, Annotations: ann,
			OwnerReferences: []metav1.OwnerReference{reconcile.ControllerRef(cj, kind.GroupVersion().String(), kind.Kind)},
		},
		Spec: t.Spec,
	}
}
