package admission

import (
	"net/http"
	"testing"

	"github.com/google/go-cmp/cmp"
	arv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

func TestMatchRule(t *testing.T) {
	scope := func(s arv1.ScopeType) *arv1.ScopeType { return &s }
	rule := func(ops []arv1.OperationType, resources []string, s *arv1.ScopeType) arv1.RuleWithOperations {
		return arv1.RuleWithOperations{Operations: ops, Rule: arv1.Rule{
			APIGroups: []string{""}, APIVersions: []string{"v1"}, Resources: resources, Scope: s}}
	}
	pods := schema.GroupVersionResource{Version: "v1", Resource: "pods"}
	namespaces := schema.GroupVersionResource{Version: "v1", Resource: "namespaces"}
	nodes := schema.GroupVersionResource{Version: "v1", Resource: "nodes"}
	create, all := []arv1.OperationType{arv1.Create}, []arv1.OperationType{arv1.OperationAll}
	tests := []struct {
		name string
		rule arv1.RuleWithOperations
		a    Attributes
		want bool
	}{
		{"exact", rule(create, []string{"pods"}, nil), Attributes{Resource: pods, Operation: Create, Namespace: "ns"}, true},
		{"other operation", rule(create, []string{"pods"}, nil), Attributes{Resource: pods, Operation: Update, Namespace: "ns"}, false},
		{"any operation", rule(all, []string{"pods"}, nil), Attributes{Resource: pods, Operation: Delete, Namespace: "ns"}, true},
		{"star skips subresources", rule(all, []string{"*"}, nil), Attributes{Resource: pods, SubResource: "status", Operation: Update, Namespace: "ns"}, false},
		{"named subresource", rule(all, []string{"pods/status"}, nil), Attributes{Resource: pods, SubResource: "status", Operation: Update, Namespace: "ns"}, true},
		{"main resource only", rule(all, []string{"pods"}, nil), Attributes{Resource: pods, SubResource: "status", Operation: Update, Namespace: "ns"}, false},
		{"star star", rule(all, []string{"*/*"}, nil), Attributes{Resource: pods, SubResource: "binding", Operation: Create, Namespace: "ns"}, true},
		{"star subresource", rule(all, []string{"*/status"}, nil), Attributes{Resource: nodes, SubResource: "status", Operation: Update}, true},
		{"other group", arv1.RuleWithOperations{Operations: all, Rule: arv1.Rule{APIGroups: []string{"apps"}, APIVersions: []string{"*"}, Resources: []string{"*"}}},
			Attributes{Resource: pods, Operation: Create, Namespace: "ns"}, false},
		{"namespaced scope", rule(all, []string{"*"}, scope(arv1.NamespacedScope)), Attributes{Resource: pods, Operation: Create, Namespace: "ns"}, true},
		{"namespaced scope, cluster object", rule(all, []string{"*"}, scope(arv1.NamespacedScope)), Attributes{Resource: nodes, Operation: Create}, false},
		{"cluster scope, namespace object", rule(all, []string{"*"}, scope(arv1.ClusterScope)), Attributes{Resource: namespaces, Operation: Create, Namespace: "x"}, true},
		{"cluster scope, namespaced object", rule(all, []string{"*"}, scope(arv1.ClusterScope)), Attributes{Resource: pods, Operation: Create, Namespace: "ns"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := matchRule(tt.rule, &tt.a); got != tt.want {
				t.Errorf("matchRule = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestDenied(t *testing.T) {
	a := &Attributes{Resource: schema.GroupVersionResource{Group: "apps", Version: "v1", Resource: "deployments"}, Name: "web"}
	tests := []struct {
		name   string
		result *metav1.Status
		want   metav1.Status
	}{
		{
			name:   "message",
			result: &metav1.Status{Message: "no"},
			want: metav1.Status{Status: metav1.StatusFailure, Code: http.StatusForbidden, Reason: metav1.StatusReasonForbidden,
				Message: `deployments.apps "web" is forbidden: admission webhook "w.example.com" denied the request: no`,
				Details: &metav1.StatusDetails{Group: "apps", Kind: "deployments", Name: "web"}},
		},
		{
			name:   "no explanation, code kept",
			result: &metav1.Status{Code: http.StatusConflict},
			want: metav1.Status{Status: metav1.StatusFailure, Code: http.StatusConflict, Reason: metav1.StatusReasonForbidden,
				Message: `deployments.apps "web" is forbidden: admission webhook "w.example.com" denied the request without explanation`,
				Details: &metav1.StatusDetails{Group: "apps", Kind: "deployments", Name: "web"}},
		},
		{
			name:   "internal error",
			result: &metav1.Status{Code: http.StatusInternalServerError, Reason: "Oops"},
			want: metav1.Status{Status: metav1.StatusFailure, Code: http.StatusInternalServerError, Reason: "Oops",
				Message: `Internal error occurred: admission webhook "w.example.com" denied the request: Oops`,
				Details: &metav1.StatusDetails{Causes: []metav1.StatusCause{{Message: `admission webhook "w.example.com" denied the request: Oops`}}}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := denied(a, "w.example.com", tt.result).(*apierrors.StatusError)
			if diff := cmp.Diff(tt.want, err.ErrStatus); diff != "" {
				t.Errorf("status (-want +got):\n%s", diff)
			}
		})
	}
}

func TestDenialError(t *testing.T) {
	a := &Attributes{Resource: corev1.SchemeGroupVersion.WithResource("configmaps"), Object: &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{GenerateName: "cm-"}}}
	tests := []struct {
		reason   metav1.StatusReason
		wantCode int32
	}{
		{"", http.StatusUnprocessableEntity},
		{metav1.StatusReasonForbidden, http.StatusForbidden},
		{metav1.StatusReasonUnauthorized, http.StatusUnauthorized},
		{metav1.StatusReasonRequestEntityTooLarge, http.StatusRequestEntityTooLarge},
	}
	for _, tt := range tests {
		err := denialError(a, decision{policy: "p", binding: "b", message: "m", reason: tt.reason}).(*apierrors.StatusError)
		want := `configmaps "cm-" is forbidden: ValidatingAdmissionPolicy 'p' with binding 'b' denied request: m`
		if err.ErrStatus.Code != tt.wantCode || err.ErrStatus.Message != want {
			t.Errorf("reason %q: %d %q, want %d %q", tt.reason, err.ErrStatus.Code, err.ErrStatus.Message, tt.wantCode, want)
		}
	}
}

func TestPolicyMessage(t *testing.T) {
	env, err := newCELPrograms()
	if err != nil {
		t.Fatal(err)
	}
	p := &policies{cel: env}
	vars := map[string]any{"object": map[string]any{"n": int64(7)}}
	tests := []struct {
		name string
		v    arv1.Validation
		want string
	}{
		{"expression", arv1.Validation{Expression: " object.n < 5 "}, "failed expression: object.n < 5"},
		{"message", arv1.Validation{Expression: "false", Message: "too big"}, "too big"},
		{"messageExpression", arv1.Validation{Expression: "false", Message: "too big", MessageExpression: "'n is ' + string(object.n)"}, "n is 7"},
		{"messageExpression fails", arv1.Validation{Expression: "false", Message: "too big", MessageExpression: "object.missing"}, "too big"},
		{"messageExpression empty", arv1.Validation{Expression: "false", Message: "too big", MessageExpression: "' '"}, "too big"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := p.message(tt.v, vars); got != tt.want {
				t.Errorf("message = %q, want %q", got, tt.want)
			}
		})
	}
}
