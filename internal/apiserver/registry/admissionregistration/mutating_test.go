package admissionregistration

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	arv1 "k8s.io/api/admissionregistration/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

func TestValidateMutatingPolicy(t *testing.T) {
	good := func() *arv1.MutatingAdmissionPolicy {
		return &arv1.MutatingAdmissionPolicy{Spec: arv1.MutatingAdmissionPolicySpec{
			ReinvocationPolicy: arv1.NeverReinvocationPolicy,
			Mutations: []arv1.Mutation{{
				PatchType:          arv1.PatchTypeApplyConfiguration,
				ApplyConfiguration: &arv1.ApplyConfiguration{Expression: `Object{spec: Object.spec{replicas: 100}}`},
			}},
			MatchConstraints: &arv1.MatchResources{ResourceRules: []arv1.NamedRuleWithOperations{{RuleWithOperations: arv1.RuleWithOperations{
				Operations: []arv1.OperationType{arv1.Create},
				Rule:       arv1.Rule{APIGroups: []string{"apps"}, APIVersions: []string{"v1"}, Resources: []string{"deployments"}},
			}}}},
		}}
	}
	tests := []struct {
		name string
		mut  func(*arv1.MutatingAdmissionPolicySpec)
		want []string
	}{
		{name: "apply configuration"},
		{name: "json patch", mut: func(s *arv1.MutatingAdmissionPolicySpec) {
			s.Mutations[0] = arv1.Mutation{PatchType: arv1.PatchTypeJSONPatch, JSONPatch: &arv1.JSONPatch{
				Expression: `[JSONPatch{op: "add", path: "/metadata/labels/" + jsonpatch.escapeKey("a/b"), value: "x"}]`}}
		}},
		{name: "no mutations, no reinvocation policy", mut: func(s *arv1.MutatingAdmissionPolicySpec) { s.Mutations, s.ReinvocationPolicy = nil, "" },
			want: []string{"spec.mutations: Required value: mutations must contain at least one item", "spec.reinvocationPolicy: Required value"}},
		{name: "patch type without its patch", mut: func(s *arv1.MutatingAdmissionPolicySpec) { s.Mutations[0].PatchType = arv1.PatchTypeJSONPatch },
			want: []string{"spec.mutations[0].jsonPatch: Required value: must be specified when patchType is JSONPatch",
				`spec.mutations[0].applyConfiguration: Invalid value: "{applyConfiguration}": must not be specified when patchType is JSONPatch`}},
		{name: "delete cannot be mutated", mut: func(s *arv1.MutatingAdmissionPolicySpec) {
			s.MatchConstraints.ResourceRules[0].Operations = []arv1.OperationType{arv1.Delete}
		}, want: []string{`spec.matchConstraints.resourceRules.operations: Unsupported value: "DELETE": supported values: "CREATE", "UPDATE"`}},
	}
	r := mutatingAdmissionPolicyResource()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := good()
			if tt.mut != nil {
				tt.mut(&p.Spec)
			}
			r.Strategy.Default(p)
			if p.Spec.FailurePolicy == nil || *p.Spec.FailurePolicy != arv1.Fail {
				t.Errorf("failurePolicy = %v, want the default Fail", p.Spec.FailurePolicy)
			}
			if diff := cmp.Diff(tt.want, errorStrings(r.Strategy.Validate(p))); diff != "" {
				t.Errorf("errors (-want +got):\n%s", diff)
			}
		})
	}
}

func TestValidateMutatingBinding(t *testing.T) {
	r := mutatingAdmissionPolicyBindingResource()
	b := &arv1.MutatingAdmissionPolicyBinding{Spec: arv1.MutatingAdmissionPolicyBindingSpec{PolicyName: "Bad_Name", ParamRef: &arv1.ParamRef{}}}
	want := []string{
		`spec.policyName: Invalid value: "Bad_Name": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')`,
		"spec.paramRef: Required value: one of name or selector must be specified",
		"spec.paramRef.parameterNotFoundAction: Required value",
	}
	if diff := cmp.Diff(want, errorStrings(r.Strategy.Validate(b))); diff != "" {
		t.Errorf("errors (-want +got):\n%s", diff)
	}
}

func errorStrings(errs field.ErrorList) []string {
	var out []string
	for _, e := range errs {
		out = append(out, e.Error())
	}
	return out
}
