package admissionregistration

import (
	arv1 "k8s.io/api/admissionregistration/v1"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"skiff/internal/apiserver/registry"
)

func mutatingAdmissionPolicyResource() registry.Resource {
	return registry.Resource{
		GroupVersion: groupVersion,
		Resource:     "mutatingadmissionpolicies",
		SingularName: "mutatingadmissionpolicy",
		Kind:         "MutatingAdmissionPolicy",
		Categories:   []string{"api-extensions"},
		New:          func() runtime.Object { return &arv1.MutatingAdmissionPolicy{} },
		NewList:      func() runtime.Object { return &arv1.MutatingAdmissionPolicyList{} },
		Strategy: registry.Strategy{
			Default: func(obj runtime.Object) {
				s := &obj.(*arv1.MutatingAdmissionPolicy).Spec
				if s.FailurePolicy == nil {
					p := arv1.Fail
					s.FailurePolicy = &p
				}
				if s.MatchConstraints != nil {
					defaultMatchResources(s.MatchConstraints)
				}
			},
			Validate: func(obj runtime.Object) field.ErrorList {
				return validateMutatingPolicy(&obj.(*arv1.MutatingAdmissionPolicy).Spec, field.NewPath("spec"))
			},
			TrackGeneration: true,
			TableColumns: []metav1.TableColumnDefinition{
				registry.Column("Mutations", "integer", "Mutation indicates the number of mutations rules defined in this configuration", 0),
				registry.Column("ParamKind", "string", "ParamKind specifies the kind of resources used to parameterize this policy", 0),
				ageColumn,
			},
			TableRow: func(obj runtime.Object) []interface{} {
				p := obj.(*arv1.MutatingAdmissionPolicy)
				kind := "<unset>"
				if pk := p.Spec.ParamKind; pk != nil {
					kind = pk.APIVersion + "/" + pk.Kind
				}
				return []interface{}{int64(len(p.Spec.Mutations)), kind, registry.Age(obj)}
			},
		},
	}
}

func mutatingAdmissionPolicyBindingResource() registry.Resource {
	return registry.Resource{
		GroupVersion: groupVersion,
		Resource:     "mutatingadmissionpolicybindings",
		SingularName: "mutatingadmissionpolicybinding",
		Kind:         "MutatingAdmissionPolicyBinding",
		Categories:   []string{"api-extensions"},
		New:          func() runtime.Object { return &arv1.MutatingAdmissionPolicyBinding{} },
		NewList:      func() runtime.Object { return &arv1.MutatingAdmissionPolicyBindingList{} },
		Strategy: registry.Strategy{
			Default: func(obj runtime.Object) {
				if mr := obj.(*arv1.MutatingAdmissionPolicyBinding).Spec.MatchResources; mr != nil {
					defaultMatchResources(mr)
				}
			},
			Validate: func(obj runtime.Object) field.ErrorList {
				return validateMutatingBinding(&obj.(*arv1.MutatingAdmissionPolicyBinding).Spec, field.NewPath("spec"))
			},
			TrackGeneration: true,
			TableColumns: []metav1.TableColumnDefinition{
				registry.Column("PolicyName", "string", "PolicyName indicates the policy definition which the policy binding binded to", 0),
				registry.Column("ParamRef", "string", "ParamRef indicates the param resource which sets the configuration param", 0),
				ageColumn,
			},
			TableRow: func(obj runtime.Object) []interface{} {
				b := obj.(*arv1.MutatingAdmissionPolicyBinding)
				return []interface{}{b.Spec.PolicyName, paramRefCell(b.Spec.ParamRef), registry.Age(obj)}
			},
		},
	}
}

var (
	supportedMutatingOperations   = []string{string(arv1.Create), string(arv1.Update)}
	supportedPatchTypes           = []string{string(arv1.PatchTypeApplyConfiguration), string(arv1.PatchTypeJSONPatch)}
	supportedReinvocationPolicies = []string{string(arv1.IfNeededReinvocationPolicy), string(arv1.NeverReinvocationPolicy)}
)

// validateMutatingOperations: only creates and updates can be mutated.
func validateMutatingOperations(m *arv1.MatchResources, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	for _, r := range m.ResourceRules {
		for _, op := range r.Operations {
			if !sets.New(supportedMutatingOperations...).Has(string(op)) {
				errs = append(errs, field.NotSupported(p.Child("resourceRules", "operations"), op, supportedMutatingOperations))
			}
		}
	}
	return errs
}

func validateMutatingPolicy(spec *arv1.MutatingAdmissionPolicySpec, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	errs = append(errs, validateFailurePolicy(spec.FailurePolicy, p.Child("failurePolicy"))...)
	errs = append(errs, validateParamKind(spec.ParamKind, p.Child("paramKind"))...)
	if spec.MatchConstraints == nil {
		errs = append(errs, field.Required(p.Child("matchConstraints"), ""))
	} else {
		// Resource rules give the policy the kinds it mutates.
		errs = append(errs, validateMatchResources(spec.MatchConstraints, true, p.Child("matchConstraints"))...)
		errs = append(errs, validateMutatingOperations(spec.MatchConstraints, p.Child("matchConstraints"))...)
	}
	errs = append(errs, validateMatchConditions(spec.MatchConditions, p.Child("matchConditions"))...)
	names := sets.New[string]()
	for i, v := range spec.Variables {
		vp := p.Child("variables").Index(i)
		if v.Name == "" {
			errs = append(errs, field.Required(vp.Child("name"), ""))
		} else if names.Has(v.Name) {
			errs = append(errs, field.Duplicate(vp.Child("name"), v.Name))
		}
		names.Insert(v.Name)
		errs = append(errs, validateExpression(v.Expression, vp.Child("expression"))...)
	}
	if len(spec.Mutations) == 0 {
		errs = append(errs, field.Required(p.Child("mutations"), "mutations must contain at least one item"))
	}
	for i, m := range spec.Mutations {
		mp := p.Child("mutations").Index(i)
		switch m.PatchType {
		case "":
			errs = append(errs, field.Required(mp.Child("patchType"), ""))
		case arv1.PatchTypeJSONPatch:
			if m.JSONPatch == nil {
				errs = append(errs, field.Required(mp.Child("jsonPatch"), "must be specified when patchType is JSONPatch"))
			} else {
				errs = append(errs, validateExpression(m.JSONPatch.Expression, mp.Child("jsonPatch", "expression"))...)
			}
			if m.ApplyConfiguration != nil {
				errs = append(errs, field.Invalid(mp.Child("applyConfiguration"), "{applyConfiguration}", "must not be specified when patchType is JSONPatch"))
			}
		case arv1.PatchTypeApplyConfiguration:
			if m.ApplyConfiguration == nil {
				errs = append(errs, field.Required(mp.Child("applyConfiguration"), "must be specified when patchType is ApplyConfiguration"))
			} else {
				errs = append(errs, validateExpression(m.ApplyConfiguration.Expression, mp.Child("applyConfiguration", "expression"))...)
			}
			if m.JSONPatch != nil {
				errs = append(errs, field.Invalid(mp.Child("jsonPatch"), "{jsonPatch}", "must not be specified when patchType is ApplyConfiguration"))
			}
		default:
			errs = append(errs, field.NotSupported(mp.Child("patchType"), m.PatchType, supportedPatchTypes))
		}
	}
	switch {
	case spec.ReinvocationPolicy == "":
		errs = append(errs, field.Required(p.Child("reinvocationPolicy"), ""))
	case !sets.New(supportedReinvocationPolicies...).Has(string(spec.ReinvocationPolicy)):
		errs = append(errs, field.NotSupported(p.Child("reinvocationPolicy"), spec.ReinvocationPolicy, supportedReinvocationPolicies))
	}
	return errs
}

func validateMutatingBinding(spec *arv1.MutatingAdmissionPolicyBindingSpec, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	if spec.PolicyName == "" {
		errs = append(errs, field.Required(p.Child("policyName"), ""))
	} else {
		for _, msg := range apivalidation.NameIsDNSSubdomain(spec.PolicyName, false) {
			errs = append(errs, field.Invalid(p.Child("policyName"), spec.PolicyName, msg))
		}
	}
	errs = append(errs, validateParamRef(spec.ParamRef, p.Child("paramRef"))...)
	if spec.MatchResources != nil {
		errs = append(errs, validateMatchResources(spec.MatchResources, false, p.Child("matchResources"))...)
		errs = append(errs, validateMutatingOperations(spec.MatchResources, p.Child("matchResources"))...)
	}
	return errs
}
