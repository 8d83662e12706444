// Package cronjob runs CronJobs: at every time the schedule (standard
// five-field cron syntax, @hourly and the other descriptors, in
// spec.timeZone or the controller's local zone) names, it creates a Job
// named <cronjob>-<scheduled time in minutes since the epoch>.
//
// One sync per CronJob, level-based and driven by an injected clock:
//
//	reconcile status.active with the Jobs that exist; record
//	lastSuccessfulTime; delete finished Jobs beyond the history limits
//	find the most recent unmet schedule time after lastScheduleTime
//	  none                  -> requeue at the next schedule time
//	  later than the start deadline -> event MissedSchedule
//	  Forbid and a Job runs -> event JobAlreadyActive
//	  Replace               -> delete running Jobs first
//	create the Job, set lastScheduleTime, requeue at the next time
//
// Because the Job name encodes the scheduled time, a retried sync that
// finds the Job already there does not start a second one.
//
// decide (plan.go) works all of this out from the CronJob, its Jobs and
// the time, and returns a plan; sync performs it (prune, events, Replace
// deletions, the creation, the status write) and returns the wake-up.
package cronjob
