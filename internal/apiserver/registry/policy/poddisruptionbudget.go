package policy

import (
	"strconv"
	"strings"

	policyv1 "k8s.io/api/policy/v1"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"skiff/internal/apiserver/registry"
)

// Resources returns the policy/v1 resources.
func Resources() []registry.Resource {
	return []registry.Resource{pdbResource()}
}

func pdbResource() registry.Resource {
	return registry.Resource{
		GroupVersion: policyv1.SchemeGroupVersion,
		Resource:     "poddisruptionbudgets",
		SingularName: "poddisruptionbudget",
		Kind:         "PodDisruptionBudget",
		ShortNames:   []string{"pdb"},
		Namespaced:   true,
		Subresources: []string{"status"},
		New:          func() runtime.Object { return &policyv1.PodDisruptionBudget{} },
		NewList:      func() runtime.Object { return &policyv1.PodDisruptionBudgetList{} },
		Strategy: registry.Strategy{
			PrepareForCreate: func(obj runtime.Object) {
				obj.(*policyv1.PodDisruptionBudget).Status = policyv1.PodDisruptionBudgetStatus{}
			},
			PrepareForUpdate: func(obj, old runtime.Object) {
				obj.(*policyv1.PodDisruptionBudget).Status = old.(*policyv1.PodDisruptionBudget).Status
			},
			Validate: func(obj runtime.Object) field.ErrorList {
				return validatePDBSpec(&obj.(*policyv1.PodDisruptionBudget).Spec, field.NewPath("spec"))
			},
			SubresourceUpdates: map[string]registry.SubresourceUpdate{
				"status": registry.StatusUpdate(registry.Status{
					Validate: func(obj, old runtime.Object) field.ErrorList {
						s := obj.(*policyv1.PodDisruptionBudget).Status
						p := field.NewPath("status")
						var errs field.ErrorList
						for _, f := range []struct {
							name  string
							value int32
						}{{"disruptionsAllowed", s.DisruptionsAllowed}, {"currentHealthy", s.CurrentHealthy}, {"desiredHealthy", s.DesiredHealthy}, {"expectedPods", s.ExpectedPods}} {
							errs = append(errs, apivalidation.ValidateNonnegativeField(int64(f.value), p.Child(f.name))...)
						}
						return errs
					},
				}),
			},
			TrackGeneration: true,
			TableColumns: []metav1.TableColumnDefinition{
				registry.Column("Min Available", "string", "The minimum number of pods that must be available.", 0),
				registry.Column("Max Unavailable", "string", "The maximum number of pods that may be unavailable.", 0),
				registry.Column("Allowed Disruptions", "integer", "Calculated number of pods that may be disrupted at this time.", 0),
				registry.Column("Age", "string", metav1.ObjectMeta{}.SwaggerDoc()["creationTimestamp"], 0),
			},
			TableRow: func(obj runtime.Object) []interface{} {
				pdb := obj.(*policyv1.PodDisruptionBudget)
				minAvailable, maxUnavailable := "N/A", "N/A"
				if pdb.Spec.MinAvailable != nil {
					minAvailable = pdb.Spec.MinAvailable.String()
				}
				if pdb.Spec.MaxUnavailable != nil {
					maxUnavailable = pdb.Spec.MaxUnavailable.String()
				}
				return []interface{}{minAvailable, maxUnavailable, int64(pdb.Status.DisruptionsAllowed), registry.Age(obj)}
			},
		},
	}
}

func validatePDBSpec(spec *policyv1.PodDisruptionBudgetSpec, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	if spec.MinAvailable != nil && spec.MaxUnavailable != nil {
		errs = append(errs, field.Invalid(fldPath, spec, "minAvailable and maxUnavailable cannot be both set"))
	}
	errs = append(errs, validateIntOrPercent(spec.MinAvailable, fldPath.Child("minAvailable"))...)
	errs = append(errs, validateIntOrPercent(spec.MaxUnavailable, fldPath.Child("maxUnavailable"))...)
	errs = append(errs, metav1validation.ValidateLabelSelector(spec.Selector, metav1validation.LabelSelectorValidationOptions{}, fldPath.Child("selector"))...)
	if p := spec.UnhealthyPodEvictionPolicy; p != nil && *p != policyv1.IfHealthyBudget && *p != policyv1.AlwaysAllow {
		errs = append(errs, field.NotSupported(fldPath.Child("unhealthyPodEvictionPolicy"), *p, []policyv1.UnhealthyPodEvictionPolicyType{policyv1.IfHealthyBudget, policyv1.AlwaysAllow}))
	}
	return errs
}

func validateIntOrPercent(v *intstr.IntOrString, fldPath *field.Path) field.ErrorList {
	if v == nil {
		return nil
	}
	var errs field.ErrorList
	switch v.Type {
	case intstr.String:
		for _, msg := range validation.IsValidPercent(v.StrVal) {
			errs = append(errs, field.Invalid(fldPath, v.StrVal, msg))
		}
		if n, err := strconv.Atoi(strings.TrimSuffix(v.StrVal, "%")); err == nil && strings.HasSuffix(v.StrVal, "%") && n > 100 {
			errs = append(errs, field.Invalid(fldPath, v.StrVal, "must not be greater than 100%"))
		}
	case intstr.Int:
		errs = append(errs, apivalidation.ValidateNonnegativeField(int64(v.IntVal), fldPath)...)
	}
	return errs
}
