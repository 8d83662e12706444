package admissionregistration

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	arv1 "k8s.io/api/admissionregistration/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

func TestValidateWebhookConfiguration(t *testing.T) {
	good := func() arv1.ValidatingWebhook {
		return arv1.ValidatingWebhook{
			Name:                    "check.example.com",
			ClientConfig:            arv1.WebhookClientConfig{URL: ptr.To("https://example.com/check")},
			Rules:                   []arv1.RuleWithOperations{{Operations: []arv1.OperationType{arv1.Create}, Rule: arv1.Rule{APIGroups: []string{""}, APIVersions: []string{"v1"}, Resources: []string{"pods"}}}},
			SideEffects:             ptr.To(arv1.SideEffectClassNone),
			AdmissionReviewVersions: []string{"v1"},
		}
	}
	tests := []struct {
		name string
		mut  func(*arv1.ValidatingWebhook)
		want []string
	}{
		{name: "valid"},
		{name: "short name", mut: func(w *arv1.ValidatingWebhook) { w.Name = "check" },
			want: []string{`webhooks[0].name: Invalid value: "check": should be a domain with at least three segments separated by dots`}},
		{name: "http url", mut: func(w *arv1.ValidatingWebhook) { w.ClientConfig.URL = ptr.To("http://example.com/x?a=b") },
			want: []string{`webhooks[0].clientConfig.url: Invalid value: "http": 'https' is the only allowed URL scheme`,
				`webhooks[0].clientConfig.url: Invalid value: "a=b": query parameters are not permitted in the URL`}},
		{name: "url and service", mut: func(w *arv1.ValidatingWebhook) {
			w.ClientConfig.Service = &arv1.ServiceReference{Name: "s", Namespace: "n"}
		}, want: []string{`webhooks[0].clientConfig: Required value: exactly one of url or service is required`}},
		{name: "empty service path", mut: func(w *arv1.ValidatingWebhook) {
			w.ClientConfig = arv1.WebhookClientConfig{Service: &arv1.ServiceReference{Name: "s", Namespace: "n", Path: ptr.To("")}}
		}},
		{name: "bad service paths", mut: func(w *arv1.ValidatingWebhook) {
			w.ClientConfig = arv1.WebhookClientConfig{Service: &arv1.ServiceReference{Name: "s", Namespace: "n", Path: ptr.To("/a//B/")}}
		}, want: []string{`webhooks[0].clientConfig.service.path: Invalid value: "/a//B/": segment[1] may not be empty`,
			`webhooks[0].clientConfig.service.path: Invalid value: "/a//B/": segment[2]: a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')`}},
		{name: "side effects", mut: func(w *arv1.ValidatingWebhook) { w.SideEffects = ptr.To(arv1.SideEffectClassSome) },
			want: []string{`webhooks[0].sideEffects: Unsupported value: "Some": supported values: "None", "NoneOnDryRun"`}},
		{name: "review versions", mut: func(w *arv1.ValidatingWebhook) { w.AdmissionReviewVersions = []string{"v2"} },
			want: []string{`webhooks[0].admissionReviewVersions: Invalid value: ["v2"]: must include at least one of v1, v1beta1`}},
		{name: "timeout", mut: func(w *arv1.ValidatingWebhook) { w.TimeoutSeconds = ptr.To(int32(31)) },
			want: []string{`webhooks[0].timeoutSeconds: Invalid value: 31: the timeout value must be between 1 and 30 seconds`}},
		{name: "operations", mut: func(w *arv1.ValidatingWebhook) { w.Rules[0].Operations = []arv1.OperationType{"PATCH"} },
			want: []string{`webhooks[0].rules[0].operations[0]: Unsupported value: "PATCH": supported values: "*", "CREATE", "UPDATE", "DELETE", "CONNECT"`}},
		{name: "match condition", mut: func(w *arv1.ValidatingWebhook) {
			w.MatchConditions = []arv1.MatchCondition{{Name: "ok", Expression: "true"}, {Name: "ok", Expression: "true"}}
		}, want: []string{`webhooks[0].matchConditions[1].name: Duplicate value: "ok"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := good()
			if tt.mut != nil {
				tt.mut(&w)
			}
			c := &arv1.ValidatingWebhookConfiguration{Webhooks: []arv1.ValidatingWebhook{w}}
			var got []string
			for _, e := range validateValidatingWebhookConfiguration(c) {
				got = append(got, e.Error())
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("errors (-want +got):\n%s", diff)
			}
		})
	}
}

func TestValidatePolicyAndBinding(t *testing.T) {
	policy := &arv1.ValidatingAdmissionPolicy{Spec: arv1.ValidatingAdmissionPolicySpec{
		MatchConstraints: &arv1.MatchResources{ResourceRules: []arv1.NamedRuleWithOperations{{RuleWithOperations: arv1.RuleWithOperations{
			Operations: []arv1.OperationType{arv1.Create}, Rule: arv1.Rule{APIGroups: []string{"apps"}, APIVersions: []string{"v1"}, Resources: []string{"deployments"}}}}}},
		Validations: []arv1.Validation{{Expression: "object.spec.replicas <= 5", Reason: ptr.To(metav1.StatusReason("Teapot"))}},
	}}
	var got []string
	for _, e := range validatePolicy(policy) {
		got = append(got, e.Error())
	}
	want := []string{`spec.validations[0].reason: Unsupported value: "Teapot": supported values: "Unauthorized", "Forbidden", "Invalid", "RequestEntityTooLarge"`}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("policy errors (-want +got):\n%s", diff)
	}
	binding := &arv1.ValidatingAdmissionPolicyBinding{Spec: arv1.ValidatingAdmissionPolicyBindingSpec{
		ValidationActions: []arv1.ValidationAction{arv1.Deny, arv1.Warn},
		ParamRef:          &arv1.ParamRef{Name: "p"},
	}}
	got = nil
	for _, e := range validateBinding(binding) {
		got = append(got, e.Error())
	}
	want = []string{
		"spec.policyName: Required value",
		"spec.paramRef.parameterNotFoundAction: Required value",
		`spec.validationActions: Invalid value: ["Deny","Warn"]: must not contain both Deny and Warn (repeating the same validation failure information in the API response and headers serves no purpose)`,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("binding errors (-want +got):\n%s", diff)
	}
}
