package admissionregistration

import (
	arv1 "k8s.io/api/admissionregistration/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// defaultTimeoutSeconds is how long a webhook call may take unless the
// webhook says otherwise.
const defaultTimeoutSeconds = int32(10)

// defaultWebhook sets what upstream's SetDefaults_ValidatingWebhook and
// SetDefaults_MutatingWebhook set on the fields both share.
func defaultWebhook(fp **arv1.FailurePolicyType, mp **arv1.MatchPolicyType, ns, obj **metav1.LabelSelector, timeout **int32, cc *arv1.WebhookClientConfig, rules []arv1.RuleWithOperations) {
	if *fp == nil {
		p := arv1.Fail
		*fp = &p
	}
	if *mp == nil {
		p := arv1.Equivalent
		*mp = &p
	}
	if *ns == nil {
		*ns = &metav1.LabelSelector{}
	}
	if *obj == nil {
		*obj = &metav1.LabelSelector{}
	}
	if *timeout == nil {
		t := defaultTimeoutSeconds
		*timeout = &t
	}
	if s := cc.Service; s != nil && s.Port == nil {
		port := int32(443)
		s.Port = &port
	}
	for i := range rules {
		defaultRule(&rules[i].Rule)
	}
}

func defaultValidatingWebhook(w *arv1.ValidatingWebhook) {
	defaultWebhook(&w.FailurePolicy, &w.MatchPolicy, &w.NamespaceSelector, &w.ObjectSelector, &w.TimeoutSeconds, &w.ClientConfig, w.Rules)
}

func defaultMutatingWebhook(w *arv1.MutatingWebhook) {
	defaultWebhook(&w.FailurePolicy, &w.MatchPolicy, &w.NamespaceSelector, &w.ObjectSelector, &w.TimeoutSeconds, &w.ClientConfig, w.Rules)
	if w.ReinvocationPolicy == nil {
		p := arv1.NeverReinvocationPolicy
		w.ReinvocationPolicy = &p
	}
}

func defaultRule(r *arv1.Rule) {
	if r.Scope == nil {
		s := arv1.AllScopes
		r.Scope = &s
	}
}

func defaultPolicySpec(s *arv1.ValidatingAdmissionPolicySpec) {
	if s.FailurePolicy == nil {
		p := arv1.Fail
		s.FailurePolicy = &p
	}
	if s.MatchConstraints != nil {
		defaultMatchResources(s.MatchConstraints)
	}
}

func defaultMatchResources(m *arv1.MatchResources) {
	if m.MatchPolicy == nil {
		p := arv1.Equivalent
		m.MatchPolicy = &p
	}
	if m.NamespaceSelector == nil {
		m.NamespaceSelector = &metav1.LabelSelector{}
	}
	if m.ObjectSelector == nil {
		m.ObjectSelector = &metav1.LabelSelector{}
	}
	for i := range m.ResourceRules {
		defaultRule(&m.ResourceRules[i].Rule)
	}
	for i := range m.ExcludeResourceRules {
		defaultRule(&m.ExcludeResourceRules[i].Rule)
	}
}
