package batch

import (
	"fmt"
	"strconv"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/duration"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"skiff/internal/apiserver/registry"
	"skiff/internal/apiserver/registry/core"
)

// Resources returns the batch/v1 resources.
func Resources() []registry.Resource {
	return []registry.Resource{jobResource(), cronJobResource()}
}

// Labels of the generated job selector, current and legacy.
const (
	ControllerUIDLabel       = "batch.kubernetes.io/controller-uid"
	JobNameLabel             = "batch.kubernetes.io/job-name"
	LegacyControllerUIDLabel = "controller-uid"
	LegacyJobNameLabel       = "job-name"
)

const defaultBackoffLimit = int32(6)

var (
	ageDescription        = metav1.ObjectMeta{}.SwaggerDoc()["creationTimestamp"]
	containersDescription = "Names of each container in the template."
	imagesDescription     = "Images referenced by each container in the template."
)

func jobResource() registry.Resource {
	return registry.Resource{
		GroupVersion: batchv1.SchemeGroupVersion,
		Resource:     "jobs",
		SingularName: "job",
		Kind:         "Job",
		Categories:   []string{"all"},
		Namespaced:   true,
		Subresources: []string{"status"},
		New:          func() runtime.Object { return &batchv1.Job{} },
		NewList:      func() runtime.Object { return &batchv1.JobList{} },
		Strategy: registry.Strategy{
			Default:          func(obj runtime.Object) { defaultJob(obj.(*batchv1.Job)) },
			PrepareForCreate: func(obj runtime.Object) { prepareJobForCreate(obj.(*batchv1.Job)) },
			PrepareForUpdate: func(obj, old runtime.Object) {
				obj.(*batchv1.Job).Status = old.(*batchv1.Job).Status
			},
			Validate: func(obj runtime.Object) field.ErrorList {
				job := obj.(*batchv1.Job)
				errs := validateGeneratedSelector(job)
				return append(errs, validateJobSpec(&job.Spec, true, field.NewPath("spec"))...)
			},
			ValidateUpdate: validateJobUpdate,
			SubresourceUpdates: map[string]registry.SubresourceUpdate{
				"status": registry.StatusUpdate(registry.Status{
					Validate: func(obj, old runtime.Object) field.ErrorList {
						s := obj.(*batchv1.Job).Status
						p := field.NewPath("status")
						var errs field.ErrorList
						errs = append(errs, apivalidation.ValidateNonnegativeField(int64(s.Active), p.Child("active"))...)
						errs = append(errs, apivalidation.ValidateNonnegativeField(int64(s.Succeeded), p.Child("succeeded"))...)
						errs = append(errs, apivalidation.ValidateNonnegativeField(int64(s.Failed), p.Child("failed"))...)
						if s.Ready != nil {
							errs = append(errs, apivalidation.ValidateNonnegativeField(int64(*s.Ready), p.Child("ready"))...)
						}
						return errs
					},
				}),
			},
			TrackGeneration: true,
			TableColumns: []metav1.TableColumnDefinition{
				registry.Column("Status", "string", "Status of the job.", 0),
				registry.Column("Completions", "string", batchv1.JobStatus{}.SwaggerDoc()["succeeded"], 0),
				registry.Column("Duration", "string", "Time required to complete the job.", 0),
				registry.Column("Age", "string", ageDescription, 0),
				registry.Column("Containers", "string", containersDescription, 1),
				registry.Column("Images", "string", imagesDescription, 1),
				registry.Column("Selector", "string", batchv1.JobSpec{}.SwaggerDoc()["selector"], 1),
			},
			TableRow: jobRow,
			Fields: func(obj runtime.Object) fields.Set {
				return fields.Set{"status.successful": strconv.Itoa(int(obj.(*batchv1.Job).Status.Succeeded))}
			},
		},
	}
}

// defaultJob is upstream's SetDefaults_Job.
func defaultJob(job *batchv1.Job) {
	defaultJobSpec(&job.Spec)
	if job.Spec.Template.Labels != nil && len(job.Labels) == 0 {
		job.Labels = copyLabels(job.Spec.Template.Labels)
	}
}

func defaultJobSpec(spec *batchv1.JobSpec) {
	// A non-parallel job may leave both unset; then both are 1.
	if spec.Completions == nil && spec.Parallelism == nil {
		spec.Completions = int32Ptr(1)
		spec.Parallelism = int32Ptr(1)
	}
	if spec.Parallelism == nil {
		spec.Parallelism = int32Ptr(1)
	}
	if spec.BackoffLimit == nil {
		if spec.BackoffLimitPerIndex != nil {
			spec.BackoffLimit = int32Ptr(1<<31 - 1)
		} else {
			spec.BackoffLimit = int32Ptr(defaultBackoffLimit)
		}
	}
	if spec.CompletionMode == nil {
		m := batchv1.NonIndexedCompletion
		spec.CompletionMode = &m
	}
	if spec.Suspend == nil {
		f := false
		spec.Suspend = &f
	}
	if spec.PodFailurePolicy != nil {
		for _, rule := range spec.PodFailurePolicy.Rules {
			for i := range rule.OnPodConditions {
				if rule.OnPodConditions[i].Status == "" {
					rule.OnPodConditions[i].Status = corev1.ConditionTrue
				}
			}
		}
	}
	if spec.PodReplacementPolicy == nil {
		p := batchv1.TerminatingOrFailed
		if spec.PodFailurePolicy != nil {
			p = batchv1.Failed
		}
		spec.PodReplacementPolicy = &p
	}
	core.DefaultPodTemplateSpec(&spec.Template)
}

func prepareJobForCreate(job *batchv1.Job) {
	job.Status = batchv1.JobStatus{}
	if job.Spec.ManualSelector == nil || !*job.Spec.ManualSelector {
		generateSelector(job)
	}
	// Upstream copies the template labels to the job on every decode, so a
	// job created without labels reads back with the generated ones.
	if len(job.Labels) == 0 && len(job.Spec.Template.Labels) > 0 {
		job.Labels = copyLabels(job.Spec.Template.Labels)
	}
}

// generateSelector labels the pod template with the job's name and uid and
// selects on the uid, leaving labels the user set alone (validation rejects
// wrong ones).
func generateSelector(job *batchv1.Job) {
	if job.Spec.Template.Labels == nil {
		job.Spec.Template.Labels = map[string]string{}
	}
	for _, l := range []string{LegacyJobNameLabel, JobNameLabel} {
		if _, ok := job.Spec.Template.Labels[l]; !ok {
			job.Spec.Template.Labels[l] = job.Name
		}
	}
	for _, l := range []string{LegacyControllerUIDLabel, ControllerUIDLabel} {
		if _, ok := job.Spec.Template.Labels[l]; !ok {
			job.Spec.Template.Labels[l] = string(job.UID)
		}
	}
	if job.Spec.Selector == nil {
		job.Spec.Selector = &metav1.LabelSelector{}
	}
	if job.Spec.Selector.MatchLabels == nil {
		job.Spec.Selector.MatchLabels = map[string]string{}
	}
	if _, ok := job.Spec.Selector.MatchLabels[ControllerUIDLabel]; !ok {
		job.Spec.Selector.MatchLabels[ControllerUIDLabel] = string(job.UID)
	}
}

// validateGeneratedSelector rejects user-set labels that contradict the
// generated selector.
func validateGeneratedSelector(job *batchv1.Job) field.ErrorList {
	if job.Spec.ManualSelector != nil && *job.Spec.ManualSelector {
		return nil
	}
	var errs field.ErrorList
	lp := field.NewPath("spec", "template", "metadata", "labels")
	want := map[string]string{
		LegacyControllerUIDLabel: string(job.UID), ControllerUIDLabel: string(job.UID),
		LegacyJobNameLabel: job.Name, JobNameLabel: job.Name,
	}
	for _, l := range []string{LegacyControllerUIDLabel, ControllerUIDLabel, LegacyJobNameLabel, JobNameLabel} {
		if v, ok := job.Spec.Template.Labels[l]; ok && v != want[l] {
			errs = append(errs, field.Invalid(lp.Key(l), v, "must be '"+want[l]+"'"))
		}
	}
	if job.Spec.Selector != nil {
		sp := field.NewPath("spec", "selector", "matchLabels")
		if v, ok := job.Spec.Selector.MatchLabels[ControllerUIDLabel]; !ok {
			errs = append(errs, field.Required(sp.Key(ControllerUIDLabel), "must be '"+string(job.UID)+"'"))
		} else if v != string(job.UID) {
			errs = append(errs, field.Invalid(sp.Key(ControllerUIDLabel), v, "must be '"+string(job.UID)+"'"))
		}
	}
	return errs
}

// validateJobSpec checks a job spec; requireSelector is false for a
// cronjob's job template, whose selector is generated per job.
func validateJobSpec(spec *batchv1.JobSpec, requireSelector bool, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	errs = append(errs, nonNegative(spec.Parallelism, fldPath.Child("parallelism"))...)
	errs = append(errs, nonNegative(spec.Completions, fldPath.Child("completions"))...)
	errs = append(errs, nonNegative(spec.BackoffLimit, fldPath.Child("backoffLimit"))...)
	errs = append(errs, nonNegative(spec.TTLSecondsAfterFinished, fldPath.Child("ttlSecondsAfterFinished"))...)
	if spec.ActiveDeadlineSeconds != nil {
		errs = append(errs, apivalidation.ValidateNonnegativeField(*spec.ActiveDeadlineSeconds, fldPath.Child("activeDeadlineSeconds"))...)
	}
	if spec.CompletionMode != nil {
		switch *spec.CompletionMode {
		case batchv1.NonIndexedCompletion:
			if spec.BackoffLimitPerIndex != nil {
				errs = append(errs, field.Invalid(fldPath.Child("backoffLimitPerIndex"), *spec.BackoffLimitPerIndex, "requires indexed completion mode"))
			}
		case batchv1.IndexedCompletion:
			if spec.Completions == nil {
				errs = append(errs, field.Required(fldPath.Child("completions"), "when completion mode is Indexed"))
			}
		default:
			errs = append(errs, field.NotSupported(fldPath.Child("completionMode"), *spec.CompletionMode, []batchv1.CompletionMode{batchv1.NonIndexedCompletion, batchv1.IndexedCompletion}))
		}
	}
	errs = append(errs, validateIndexedFields(spec, fldPath)...)
	if spec.PodFailurePolicy != nil {
		errs = append(errs, validatePodFailurePolicy(spec, fldPath.Child("podFailurePolicy"))...)
	}
	if spec.SuccessPolicy != nil {
		errs = append(errs, validateSuccessPolicy(spec, fldPath.Child("successPolicy"))...)
	}
	if spec.PodReplacementPolicy != nil {
		switch *spec.PodReplacementPolicy {
		case batchv1.Failed:
		case batchv1.TerminatingOrFailed:
			if spec.PodFailurePolicy != nil {
				errs = append(errs, field.NotSupported(fldPath.Child("podReplacementPolicy"), *spec.PodReplacementPolicy, []batchv1.PodReplacementPolicy{batchv1.Failed}))
			}
		default:
			errs = append(errs, field.NotSupported(fldPath.Child("podReplacementPolicy"), *spec.PodReplacementPolicy, []batchv1.PodReplacementPolicy{batchv1.TerminatingOrFailed, batchv1.Failed}))
		}
	}

	if spec.Selector == nil {
		if requireSelector {
			errs = append(errs, field.Required(fldPath.Child("selector"), ""))
		}
	} else {
		errs = append(errs, metav1validation.ValidateLabelSelector(spec.Selector, metav1validation.LabelSelectorValidationOptions{}, fldPath.Child("selector"))...)
		if selector, err := metav1.LabelSelectorAsSelector(spec.Selector); err == nil && !selector.Matches(labels.Set(spec.Template.Labels)) {
			errs = append(errs, field.Invalid(fldPath.Child("template", "metadata", "labels"), spec.Template.Labels, "`selector` does not match template `labels`"))
		}
	}

	errs = append(errs, core.ValidatePodTemplateSpec(&spec.Template, fldPath.Child("template"))...)
	switch rp := spec.Template.Spec.RestartPolicy; {
	case rp != corev1.RestartPolicyOnFailure && rp != corev1.RestartPolicyNever:
		errs = append(errs, field.NotSupported(fldPath.Child("template", "spec", "restartPolicy"), rp, []corev1.RestartPolicy{corev1.RestartPolicyOnFailure, corev1.RestartPolicyNever}))
	case rp == corev1.RestartPolicyOnFailure && spec.PodFailurePolicy != nil:
		errs = append(errs, field.Invalid(fldPath.Child("template", "spec", "restartPolicy"), rp, fmt.Sprintf("only %q is supported when podFailurePolicy is specified", corev1.RestartPolicyNever)))
	}
	return errs
}

func validateJobUpdate(obj, old runtime.Object) field.ErrorList {
	job, oldJob := obj.(*batchv1.Job), old.(*batchv1.Job)
	p := field.NewPath("spec")
	spec, oldSpec := &job.Spec, &oldJob.Spec
	var errs field.ErrorList
	errs = append(errs, apivalidation.ValidateImmutableField(spec.Selector, oldSpec.Selector, p.Child("selector"))...)
	errs = append(errs, apivalidation.ValidateImmutableField(spec.CompletionMode, oldSpec.CompletionMode, p.Child("completionMode"))...)
	errs = append(errs, apivalidation.ValidateImmutableField(spec.PodFailurePolicy, oldSpec.PodFailurePolicy, p.Child("podFailurePolicy"))...)
	errs = append(errs, apivalidation.ValidateImmutableField(spec.BackoffLimitPerIndex, oldSpec.BackoffLimitPerIndex, p.Child("backoffLimitPerIndex"))...)
	errs = append(errs, apivalidation.ValidateImmutableField(spec.ManualSelector, oldSpec.ManualSelector, p.Child("manualSelector"))...)
	errs = append(errs, apivalidation.ValidateImmutableField(spec.SuccessPolicy, oldSpec.SuccessPolicy, p.Child("successPolicy"))...)
	errs = append(errs, apivalidation.ValidateImmutableField(spec.ManagedBy, oldSpec.ManagedBy, p.Child("managedBy"))...)
	// Indexed jobs may change completions together with parallelism
	// (elastic indexed jobs); otherwise completions is fixed.
	indexed := spec.CompletionMode != nil && *spec.CompletionMode == batchv1.IndexedCompletion
	if !indexed {
		errs = append(errs, apivalidation.ValidateImmutableField(spec.Completions, oldSpec.Completions, p.Child("completions"))...)
	} else if !equality.Semantic.DeepEqual(spec.Completions, oldSpec.Completions) && !equality.Semantic.DeepEqual(spec.Completions, spec.Parallelism) {
		errs = append(errs, field.Invalid(p.Child("completions"), spec.Completions, fmt.Sprintf("can only be modified in tandem with %s", p.Child("parallelism").String())))
	}
	// The pod template may change only while the job is suspended and has
	// never started pods, so that scheduling directives can be adjusted.
	notStarted := oldSpec.Suspend != nil && *oldSpec.Suspend && oldJob.Status.StartTime == nil
	if !notStarted {
		errs = append(errs, apivalidation.ValidateImmutableField(spec.Template, oldSpec.Template, p.Child("template"))...)
	}
	return errs
}

func jobRow(obj runtime.Object) []interface{} {
	job := obj.(*batchv1.Job)
	var completions string
	switch {
	case job.Spec.Completions != nil:
		completions = fmt.Sprintf("%d/%d", job.Status.Succeeded, *job.Spec.Completions)
	case job.Spec.Parallelism != nil && *job.Spec.Parallelism > 1:
		completions = fmt.Sprintf("%d/1 of %d", job.Status.Succeeded, *job.Spec.Parallelism)
	default:
		completions = fmt.Sprintf("%d/1", job.Status.Succeeded)
	}
	var jobDuration string
	switch {
	case job.Status.StartTime == nil:
	case job.Status.CompletionTime == nil:
		jobDuration = duration.HumanDuration(time.Since(job.Status.StartTime.Time))
	default:
		jobDuration = duration.HumanDuration(job.Status.CompletionTime.Sub(job.Status.StartTime.Time))
	}
	names, images := core.ContainersAndImages(job.Spec.Template.Spec.Containers)
	return []interface{}{jobStatus(job), completions, jobDuration, registry.Age(obj), names, images, metav1.FormatLabelSelector(job.Spec.Selector)}
}

// jobStatus is the STATUS cell, in upstream's order of precedence.
func jobStatus(job *batchv1.Job) string {
	switch {
	case hasCondition(job, batchv1.JobComplete):
		return "Complete"
	case hasCondition(job, batchv1.JobFailed):
		return "Failed"
	case job.DeletionTimestamp != nil:
		return "Terminating"
	case hasCondition(job, batchv1.JobSuspended):
		return "Suspended"
	case hasCondition(job, batchv1.JobFailureTarget):
		return "FailureTarget"
	default:
		return "Running"
	}
}

func hasCondition(job *batchv1.Job, t batchv1.JobConditionType) bool {
	for _, c := range job.Status.Conditions {
		if c.Type == t {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

func int32Ptr(v int32) *int32 { return &v }

func nonNegative(v *int32, fldPath *field.Path) field.ErrorList {
	if v == nil {
		return nil
	}
	return apivalidation.ValidateNonnegativeField(int64(*v), fldPath)
}

func copyLabels(in map[string]string) map[string]string {
	out := make(map[string]string, len(in))
	for k, v := range in {
		out[k] = v
	}
	return out
}
