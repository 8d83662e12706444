package batch

import (
	"fmt"
	"regexp"
	"strings"
	"time"
	_ "time/tzdata" // time zones validate the same on hosts without /usr/share/zoneinfo

	"github.com/robfig/cron/v3"
	batchv1 "k8s.io/api/batch/v1"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"skiff/internal/apiserver/registry"
	"skiff/internal/apiserver/registry/core"
)

// maxCronJobNameLength leaves room for the 11-character suffix the
// controller appends to job names (a DNS-1035 label is at most 63).
const maxCronJobNameLength = 52

func cronJobResource() registry.Resource {
	return registry.Resource{
		GroupVersion: batchv1.SchemeGroupVersion,
		Resource:     "cronjobs",
		SingularName: "cronjob",
		Kind:         "CronJob",
		ShortNames:   []string{"cj"},
		Categories:   []string{"all"},
		Namespaced:   true,
		Subresources: []string{"status"},
		New:          func() runtime.Object { return &batchv1.CronJob{} },
		NewList:      func() runtime.Object { return &batchv1.CronJobList{} },
		Strategy: registry.Strategy{
			SubresourceUpdates: map[string]registry.SubresourceUpdate{"status": registry.StatusUpdate(registry.Status{})},
			Default:            func(obj runtime.Object) { defaultCronJob(obj.(*batchv1.CronJob)) },
			PrepareForCreate: func(obj runtime.Object) {
				obj.(*batchv1.CronJob).Status = batchv1.CronJobStatus{}
			},
			PrepareForUpdate: func(obj, old runtime.Object) {
				obj.(*batchv1.CronJob).Status = old.(*batchv1.CronJob).Status
			},
			NameValidation: cronJobName,
			Validate: func(obj runtime.Object) field.ErrorList {
				return validateCronJobSpec(&obj.(*batchv1.CronJob).Spec, false, field.NewPath("spec"))
			},
			TrackGeneration: true,
			TableColumns: []metav1.TableColumnDefinition{
				registry.Column("Schedule", "string", batchv1.CronJobSpec{}.SwaggerDoc()["schedule"], 0),
				registry.Column("Timezone", "string", batchv1.CronJobSpec{}.SwaggerDoc()["timeZone"], 0),
				registry.Column("Suspend", "boolean", batchv1.CronJobSpec{}.SwaggerDoc()["suspend"], 0),
				registry.Column("Active", "integer", batchv1.CronJobStatus{}.SwaggerDoc()["active"], 0),
				registry.Column("Last Schedule", "string", batchv1.CronJobStatus{}.SwaggerDoc()["lastScheduleTime"], 0),
				registry.Column("Age", "string", ageDescription, 0),
				registry.Column("Containers", "string", containersDescription, 1),
				registry.Column("Images", "string", imagesDescription, 1),
				registry.Column("Selector", "string", batchv1.JobSpec{}.SwaggerDoc()["selector"], 1),
			},
			TableRow: cronJobRow,
		},
	}
}

func cronJobName(name string, prefix bool) []string {
	msgs := apivalidation.NameIsDNSSubdomain(name, prefix)
	if len(name) > maxCronJobNameLength {
		msgs = append(msgs, fmt.Sprintf("must be no more than %d characters", maxCronJobNameLength))
	}
	return msgs
}

// defaultCronJob is upstream's SetDefaults_CronJob plus the job template's
// pod defaults.
func defaultCronJob(cj *batchv1.CronJob) {
	if cj.Spec.ConcurrencyPolicy == "" {
		cj.Spec.ConcurrencyPolicy = batchv1.AllowConcurrent
	}
	if cj.Spec.Suspend == nil {
		f := false
		cj.Spec.Suspend = &f
	}
	if cj.Spec.SuccessfulJobsHistoryLimit == nil {
		cj.Spec.SuccessfulJobsHistoryLimit = int32Ptr(3)
	}
	if cj.Spec.FailedJobsHistoryLimit == nil {
		cj.Spec.FailedJobsHistoryLimit = int32Ptr(1)
	}
	core.DefaultPodTemplateSpec(&cj.Spec.JobTemplate.Spec.Template)
}

// validateCronJobSpec checks a cronjob spec. allowTZInSchedule is upstream's
// leniency for objects stored before spec.timeZone existed; skiff never
// stored such objects, so it is always false today.
func validateCronJobSpec(spec *batchv1.CronJobSpec, allowTZInSchedule bool, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	if spec.Schedule == "" {
		errs = append(errs, field.Required(fldPath.Child("schedule"), ""))
	} else {
		errs = append(errs, validateSchedule(spec.Schedule, allowTZInSchedule, spec.TimeZone, fldPath.Child("schedule"))...)
	}
	if spec.StartingDeadlineSeconds != nil {
		errs = append(errs, apivalidation.ValidateNonnegativeField(*spec.StartingDeadlineSeconds, fldPath.Child("startingDeadlineSeconds"))...)
	}
	switch spec.ConcurrencyPolicy {
	case batchv1.AllowConcurrent, batchv1.ForbidConcurrent, batchv1.ReplaceConcurrent:
	case "":
		errs = append(errs, field.Required(fldPath.Child("concurrencyPolicy"), ""))
	default:
		errs = append(errs, field.NotSupported(fldPath.Child("concurrencyPolicy"), spec.ConcurrencyPolicy, []batchv1.ConcurrencyPolicy{batchv1.AllowConcurrent, batchv1.ForbidConcurrent, batchv1.ReplaceConcurrent}))
	}
	errs = append(errs, validateTimeZone(spec.TimeZone, fldPath.Child("timeZone"))...)
	errs = append(errs, nonNegative(spec.SuccessfulJobsHistoryLimit, fldPath.Child("successfulJobsHistoryLimit"))...)
	errs = append(errs, nonNegative(spec.FailedJobsHistoryLimit, fldPath.Child("failedJobsHistoryLimit"))...)

	jt := fldPath.Child("jobTemplate")
	if spec.JobTemplate.Spec.Selector != nil {
		errs = append(errs, field.Invalid(jt.Child("spec", "selector"), spec.JobTemplate.Spec.Selector, "`selector` will be auto-generated"))
	}
	if ms := spec.JobTemplate.Spec.ManualSelector; ms != nil && *ms {
		errs = append(errs, field.NotSupported(jt.Child("spec", "manualSelector"), *ms, []string{"nil", "false"}))
	}
	errs = append(errs, validateJobSpec(&spec.JobTemplate.Spec, false, jt.Child("spec"))...)
	return errs
}

func validateSchedule(schedule string, allowTZInSchedule bool, timeZone *string, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	if _, err := cron.ParseStandard(schedule); err != nil {
		errs = append(errs, field.Invalid(fldPath, schedule, err.Error()))
	}
	switch {
	case allowTZInSchedule && strings.Contains(schedule, "TZ") && timeZone != nil:
		errs = append(errs, field.Invalid(fldPath, schedule, "cannot use both timeZone field and TZ or CRON_TZ in schedule"))
	case !allowTZInSchedule && strings.Contains(schedule, "TZ"):
		errs = append(errs, field.Invalid(fldPath, schedule, "cannot use TZ or CRON_TZ in schedule, use timeZone field instead"))
	}
	return errs
}

var validTimeZoneCharacters = regexp.MustCompile(`^[A-Za-z\.\-_0-9+]{1,14}$`)

func validateTimeZone(tz *string, fldPath *field.Path) field.ErrorList {
	if tz == nil {
		return nil
	}
	if *tz == "" {
		return field.ErrorList{field.Invalid(fldPath, *tz, "timeZone must be nil or non-empty string")}
	}
	for _, part := range strings.Split(*tz, "/") {
		if part == "." || part == ".." || strings.HasPrefix(part, "-") || !validTimeZoneCharacters.MatchString(part) {
			return field.ErrorList{field.Invalid(fldPath, *tz, fmt.Sprintf("unknown time zone %s", *tz))}
		}
	}
	var errs field.ErrorList
	if strings.EqualFold(*tz, "Local") {
		errs = append(errs, field.Invalid(fldPath, *tz, "timeZone must be an explicit time zone as defined in https://www.iana.org/time-zones"))
	}
	if _, err := time.LoadLocation(*tz); err != nil {
		errs = append(errs, field.Invalid(fldPath, *tz, err.Error()))
	}
	return errs
}

func cronJobRow(obj runtime.Object) []interface{} {
	cj := obj.(*batchv1.CronJob)
	last := "<none>"
	if cj.Status.LastScheduleTime != nil {
		last = registry.Since(*cj.Status.LastScheduleTime)
	}
	tz := "<none>"
	if cj.Spec.TimeZone != nil {
		tz = *cj.Spec.TimeZone
	}
	suspend := "<unset>"
	if cj.Spec.Suspend != nil {
		suspend = "False"
		if *cj.Spec.Suspend {
			suspend = "True"
		}
	}
	names, images := core.ContainersAndImages(cj.Spec.JobTemplate.Spec.Template.Spec.Containers)
	return []interface{}{
		cj.Spec.Schedule, tz, suspend, int64(len(cj.Status.Active)), last, registry.Age(obj),
		names, images, metav1.FormatLabelSelector(cj.Spec.JobTemplate.Spec.Selector),
	}
}
