// Package ttlafterfinished deletes finished Jobs whose
// spec.ttlSecondsAfterFinished has run out, counted from the time the Job's
// Complete or Failed condition turned True. Each Job is requeued for its
// expiry on the injected clock; just before deleting, the Job is read
// again from the API server, so a TTL changed meanwhile is honoured.
// Deletion is foreground, as upstream, so the Job goes after its pods.
package ttlafterfinished
