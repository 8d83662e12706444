package apps

import (
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"skiff/internal/apiserver/registry"
	"skiff/internal/apiserver/registry/core"
)

func statefulSetResource() registry.Resource {
	return registry.Resource{
		GroupVersion: groupVersion,
		Resource:     "statefulsets",
		SingularName: "statefulset",
		Kind:         "StatefulSet",
		ShortNames:   []string{"sts"},
		Categories:   []string{"all"},
		Namespaced:   true,
		Subresources: []string{"status", "scale"},
		New:          func() runtime.Object { return &appsv1.StatefulSet{} },
		NewList:      func() runtime.Object { return &appsv1.StatefulSetList{} },
		Strategy: registry.Strategy{
			Default: func(obj runtime.Object) { defaultStatefulSet(obj.(*appsv1.StatefulSet)) },
			PrepareForCreate: func(obj runtime.Object) {
				obj.(*appsv1.StatefulSet).Status = appsv1.StatefulSetStatus{}
			},
			PrepareForUpdate: func(obj, old runtime.Object) {
				obj.(*appsv1.StatefulSet).Status = old.(*appsv1.StatefulSet).Status
			},
			Validate: func(obj runtime.Object) field.ErrorList {
				return validateStatefulSetSpec(&obj.(*appsv1.StatefulSet).Spec, field.NewPath("spec"))
			},
			ValidateUpdate: validateStatefulSetUpdate,
			SubresourceUpdates: map[string]registry.SubresourceUpdate{
				"status": registry.StatusUpdate(registry.Status{
					Validate: func(obj, old runtime.Object) field.ErrorList {
						s := obj.(*appsv1.StatefulSet).Status
						return statusNonNegative(field.NewPath("status"), map[string]int32{
							"replicas": s.Replicas, "readyReplicas": s.ReadyReplicas, "currentReplicas": s.CurrentReplicas,
							"updatedReplicas": s.UpdatedReplicas, "availableReplicas": s.AvailableReplicas,
						})
					},
				}),
			},
			TrackGeneration: true,
			TableColumns: []metav1.TableColumnDefinition{
				registry.Column("Ready", "string", "Number of the pod with ready state", 0),
				registry.Column("Age", "string", ageDescription, 0),
				registry.Column("Containers", "string", containersDescription, 1),
				registry.Column("Images", "string", imagesDescription, 1),
			},
			TableRow: func(obj runtime.Object) []interface{} {
				s := obj.(*appsv1.StatefulSet)
				names, images := containerCells(&s.Spec.Template)
				return []interface{}{readyOf(s.Status.ReadyReplicas, s.Spec.Replicas), registry.Age(obj), names, images}
			},
			Scale: &registry.ScaleAccess{
				Get: func(obj runtime.Object) *autoscalingv1.Scale {
					s := obj.(*appsv1.StatefulSet)
					return newScale(s.ObjectMeta, replicas(s.Spec.Replicas), s.Status.Replicas, s.Spec.Selector)
				},
				SetReplicas: func(obj runtime.Object, n int32) { obj.(*appsv1.StatefulSet).Spec.Replicas = &n },
			},
		},
	}
}

// defaultStatefulSet is upstream's SetDefaults_StatefulSet.
func defaultStatefulSet(s *appsv1.StatefulSet) {
	if s.Spec.PodManagementPolicy == "" {
		s.Spec.PodManagementPolicy = appsv1.OrderedReadyPodManagement
	}
	if s.Spec.UpdateStrategy.Type == "" {
		s.Spec.UpdateStrategy.Type = appsv1.RollingUpdateStatefulSetStrategyType
	}
	if s.Spec.UpdateStrategy.Type == appsv1.RollingUpdateStatefulSetStrategyType {
		if s.Spec.UpdateStrategy.RollingUpdate == nil {
			s.Spec.UpdateStrategy.RollingUpdate = &appsv1.RollingUpdateStatefulSetStrategy{}
		}
		if s.Spec.UpdateStrategy.RollingUpdate.Partition == nil {
			s.Spec.UpdateStrategy.RollingUpdate.Partition = int32Ptr(0)
		}
	}
	if s.Spec.PersistentVolumeClaimRetentionPolicy == nil {
		s.Spec.PersistentVolumeClaimRetentionPolicy = &appsv1.StatefulSetPersistentVolumeClaimRetentionPolicy{}
	}
	if s.Spec.PersistentVolumeClaimRetentionPolicy.WhenDeleted == "" {
		s.Spec.PersistentVolumeClaimRetentionPolicy.WhenDeleted = appsv1.RetainPersistentVolumeClaimRetentionPolicyType
	}
	if s.Spec.PersistentVolumeClaimRetentionPolicy.WhenScaled == "" {
		s.Spec.PersistentVolumeClaimRetentionPolicy.WhenScaled = appsv1.RetainPersistentVolumeClaimRetentionPolicyType
	}
	if s.Spec.Replicas == nil {
		s.Spec.Replicas = int32Ptr(1)
	}
	if s.Spec.RevisionHistoryLimit == nil {
		s.Spec.RevisionHistoryLimit = int32Ptr(defaultRevisionHistoryLimit)
	}
	for i := range s.Spec.VolumeClaimTemplates {
		pvc := &s.Spec.VolumeClaimTemplates[i]
		if pvc.Spec.VolumeMode == nil {
			mode := corev1.PersistentVolumeFilesystem
			pvc.Spec.VolumeMode = &mode
		}
		if pvc.Status.Phase == "" {
			pvc.Status.Phase = corev1.ClaimPending
		}
	}
	core.DefaultPodTemplateSpec(&s.Spec.Template)
}

func validateStatefulSetSpec(spec *appsv1.StatefulSetSpec, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	switch spec.PodManagementPolicy {
	case "":
		errs = append(errs, field.Required(fldPath.Child("podManagementPolicy"), ""))
	case appsv1.OrderedReadyPodManagement, appsv1.ParallelPodManagement:
	default:
		errs = append(errs, field.Invalid(fldPath.Child("podManagementPolicy"), spec.PodManagementPolicy, fmt.Sprintf("must be '%s' or '%s'", appsv1.OrderedReadyPodManagement, appsv1.ParallelPodManagement)))
	}

	us := fldPath.Child("updateStrategy")
	switch spec.UpdateStrategy.Type {
	case "":
		errs = append(errs, field.Required(us, ""))
	case appsv1.OnDeleteStatefulSetStrategyType:
		if spec.UpdateStrategy.RollingUpdate != nil {
			errs = append(errs, field.Invalid(us.Child("rollingUpdate"), spec.UpdateStrategy.RollingUpdate, fmt.Sprintf("only allowed for updateStrategy '%s'", appsv1.RollingUpdateStatefulSetStrategyType)))
		}
	case appsv1.RollingUpdateStatefulSetStrategyType:
		if ru := spec.UpdateStrategy.RollingUpdate; ru != nil {
			errs = append(errs, nonNegative(ru.Partition, us.Child("rollingUpdate", "partition"))...)
			if ru.MaxUnavailable != nil {
				errs = append(errs, validateIntOrPercent(ru.MaxUnavailable, us.Child("rollingUpdate", "maxUnavailable"))...)
				if intOrPercentValue(ru.MaxUnavailable) == 0 {
					errs = append(errs, field.Invalid(us.Child("rollingUpdate", "maxUnavailable"), intOrStringValue(ru.MaxUnavailable), "must be greater than 0"))
				}
			}
		}
	default:
		errs = append(errs, field.Invalid(us, spec.UpdateStrategy, fmt.Sprintf("must be '%s' or '%s'", appsv1.RollingUpdateStatefulSetStrategyType, appsv1.OnDeleteStatefulSetStrategyType)))
	}

	if p := spec.PersistentVolumeClaimRetentionPolicy; p != nil {
		pp := fldPath.Child("persistentVolumeClaimRetentionPolicy")
		valid := []appsv1.PersistentVolumeClaimRetentionPolicyType{appsv1.RetainPersistentVolumeClaimRetentionPolicyType, appsv1.DeletePersistentVolumeClaimRetentionPolicyType}
		for _, f := range []struct {
			name  string
			value appsv1.PersistentVolumeClaimRetentionPolicyType
		}{{"whenDeleted", p.WhenDeleted}, {"whenScaled", p.WhenScaled}} {
			if f.value != appsv1.RetainPersistentVolumeClaimRetentionPolicyType && f.value != appsv1.DeletePersistentVolumeClaimRetentionPolicyType {
				errs = append(errs, field.NotSupported(pp.Child(f.name), f.value, valid))
			}
		}
	}

	if spec.ServiceName != "" {
		for _, msg := range apivalidation.NameIsDNSLabel(spec.ServiceName, false) {
			errs = append(errs, field.Invalid(fldPath.Child("serviceName"), spec.ServiceName, msg))
		}
	}
	errs = append(errs, nonNegative(spec.Replicas, fldPath.Child("replicas"))...)
	errs = append(errs, apivalidation.ValidateNonnegativeField(int64(spec.MinReadySeconds), fldPath.Child("minReadySeconds"))...)
	errs = append(errs, nonNegative(spec.RevisionHistoryLimit, fldPath.Child("revisionHistoryLimit"))...)
	if spec.Ordinals != nil {
		errs = append(errs, apivalidation.ValidateNonnegativeField(int64(spec.Ordinals.Start), fldPath.Child("ordinals", "start"))...)
	}

	selector, selErrs := validateSelector(spec.Selector, "statefulset", fldPath.Child("selector"))
	errs = append(errs, selErrs...)
	errs = append(errs, validateTemplate(withClaimVolumes(&spec.Template, spec.VolumeClaimTemplates), selector, "StatefulSet", fldPath.Child("template"))...)
	errs = append(errs, validateClaimTemplates(spec.VolumeClaimTemplates, fldPath.Child("volumeClaimTemplates"))...)
	return errs
}

// withClaimVolumes is the template as its pods get it: each claim
// template a volume, so that the containers may mount it by name.
func withClaimVolumes(t *corev1.PodTemplateSpec, claims []corev1.PersistentVolumeClaim) *corev1.PodTemplateSpec {
	if len(claims) == 0 {
		return t
	}
	out := t.DeepCopy()
	have := map[string]bool{}
	for _, v := range out.Spec.Volumes {
		have[v.Name] = true
	}
	for _, c := range claims {
		if c.Name != "" && !have[c.Name] {
			out.Spec.Volumes = append(out.Spec.Volumes, corev1.Volume{Name: c.Name, VolumeSource: corev1.VolumeSource{
				PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: c.Name}}})
		}
	}
	return out
}

// validateClaimTemplates checks what a claim needs to be provisioned: a
// name, access modes and a storage request.
func validateClaimTemplates(claims []corev1.PersistentVolumeClaim, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	for i := range claims {
		c := &claims[i]
		p := fldPath.Index(i)
		if c.Name == "" {
			errs = append(errs, field.Required(p.Child("metadata", "name"), ""))
		} else {
			for _, msg := range apivalidation.NameIsDNSSubdomain(c.Name, false) {
				errs = append(errs, field.Invalid(p.Child("metadata", "name"), c.Name, msg))
			}
		}
		errs = append(errs, metav1validation.ValidateLabels(c.Labels, p.Child("labels"))...)
		sp := p.Child("spec")
		if len(c.Spec.AccessModes) == 0 {
			errs = append(errs, field.Required(sp.Child("accessModes"), "at least 1 access mode is required"))
		}
		supported := []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce, corev1.ReadOnlyMany, corev1.ReadWriteMany, corev1.ReadWriteOncePod}
		for _, m := range c.Spec.AccessModes {
			ok := false
			for _, s := range supported {
				ok = ok || m == s
			}
			if !ok {
				errs = append(errs, field.NotSupported(sp.Child("accessModes"), m, supported))
			}
		}
		if _, ok := c.Spec.Resources.Requests[corev1.ResourceStorage]; !ok {
			errs = append(errs, field.Required(sp.Child("resources").Key(string(corev1.ResourceStorage)), ""))
		} else if q := c.Spec.Resources.Requests[corev1.ResourceStorage]; q.Sign() <= 0 {
			errs = append(errs, field.Invalid(sp.Child("resources", "requests").Key(string(corev1.ResourceStorage)), q.String(), "must be greater than zero"))
		}
	}
	return errs
}

// validateStatefulSetUpdate forbids changes to every spec field upstream
// keeps immutable.
func validateStatefulSetUpdate(obj, old runtime.Object) field.ErrorList {
	s, o := obj.(*appsv1.StatefulSet), old.(*appsv1.StatefulSet)
	mutable := o.Spec.DeepCopy()
	mutable.Replicas = s.Spec.Replicas
	mutable.Ordinals = s.Spec.Ordinals
	mutable.Template = s.Spec.Template
	mutable.UpdateStrategy = s.Spec.UpdateStrategy
	mutable.RevisionHistoryLimit = s.Spec.RevisionHistoryLimit
	mutable.PersistentVolumeClaimRetentionPolicy = s.Spec.PersistentVolumeClaimRetentionPolicy
	mutable.MinReadySeconds = s.Spec.MinReadySeconds
	if !equality.Semantic.DeepEqual(mutable, &s.Spec) {
		return field.ErrorList{field.Forbidden(field.NewPath("spec"), "updates to statefulset spec for fields other than 'replicas', 'ordinals', 'template', 'updateStrategy', 'revisionHistoryLimit', 'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are forbidden")}
	}
	return nil
}
