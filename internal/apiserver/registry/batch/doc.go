// Package batch holds the strategies of batch/v1 jobs and cronjobs.
//
// Jobs get upstream's generated selector on create (labels
// batch.kubernetes.io/controller-uid and batch.kubernetes.io/job-name on the
// pod template, the controller-uid label in the selector) unless
// spec.manualSelector is true; their template may change only while the job
// is suspended and has not started. CronJob schedules are parsed with
// robfig/cron as upstream does, and time zones with the embedded tz database.
package batch
