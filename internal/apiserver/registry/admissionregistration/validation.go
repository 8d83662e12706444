package admissionregistration

import (
	"fmt"
	"net/url"
	"strings"

	arv1 "k8s.io/api/admissionregistration/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// maxMatchConditions bounds the match conditions of one webhook or policy.
const maxMatchConditions = 64

// webhook is what validation needs of a mutating or validating webhook.
type webhook struct {
	name                    string
	clientConfig            arv1.WebhookClientConfig
	rules                   []arv1.RuleWithOperations
	failurePolicy           *arv1.FailurePolicyType
	matchPolicy             *arv1.MatchPolicyType
	namespaceSelector       *metav1.LabelSelector
	objectSelector          *metav1.LabelSelector
	sideEffects             *arv1.SideEffectClass
	timeoutSeconds          *int32
	admissionReviewVersions []string
	matchConditions         []arv1.MatchCondition
}

func validateValidatingWebhookConfiguration(c *arv1.ValidatingWebhookConfiguration) field.ErrorList {
	var errs field.ErrorList
	names := sets.New[string]()
	for i, w := range c.Webhooks {
		p := field.NewPath("webhooks").Index(i)
		errs = append(errs, validateWebhook(webhook{w.Name, w.ClientConfig, w.Rules, w.FailurePolicy, w.MatchPolicy,
			w.NamespaceSelector, w.ObjectSelector, w.SideEffects, w.TimeoutSeconds, w.AdmissionReviewVersions, w.MatchConditions}, p)...)
		if names.Has(w.Name) {
			errs = append(errs, field.Duplicate(p.Child("name"), w.Name))
		}
		names.Insert(w.Name)
	}
	return errs
}

func validateMutatingWebhookConfiguration(c *arv1.MutatingWebhookConfiguration) field.ErrorList {
	var errs field.ErrorList
	names := sets.New[string]()
	for i, w := range c.Webhooks {
		p := field.NewPath("webhooks").Index(i)
		errs = append(errs, validateWebhook(webhook{w.Name, w.ClientConfig, w.Rules, w.FailurePolicy, w.MatchPolicy,
			w.NamespaceSelector, w.ObjectSelector, w.SideEffects, w.TimeoutSeconds, w.AdmissionReviewVersions, w.MatchConditions}, p)...)
		if names.Has(w.Name) {
			errs = append(errs, field.Duplicate(p.Child("name"), w.Name))
		}
		names.Insert(w.Name)
		if rp := w.ReinvocationPolicy; rp != nil && *rp != arv1.NeverReinvocationPolicy && *rp != arv1.IfNeededReinvocationPolicy {
			errs = append(errs, field.NotSupported(p.Child("reinvocationPolicy"), *rp, []string{string(arv1.IfNeededReinvocationPolicy), string(arv1.NeverReinvocationPolicy)}))
		}
	}
	return errs
}

func validateWebhook(w webhook, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	for _, msg := range validation.IsFullyQualifiedName(p.Child("name"), w.name) {
		errs = append(errs, msg)
	}
	for i, r := range w.rules {
		errs = append(errs, validateRuleWithOperations(r, p.Child("rules").Index(i))...)
	}
	errs = append(errs, validateFailurePolicy(w.failurePolicy, p.Child("failurePolicy"))...)
	errs = append(errs, validateMatchPolicy(w.matchPolicy, p.Child("matchPolicy"))...)
	errs = append(errs, validateSelectors(w.namespaceSelector, w.objectSelector, p)...)
	switch {
	case w.sideEffects == nil:
		errs = append(errs, field.Required(p.Child("sideEffects"), fmt.Sprintf("must specify one of %s, %s", arv1.SideEffectClassNone, arv1.SideEffectClassNoneOnDryRun)))
	case *w.sideEffects != arv1.SideEffectClassNone && *w.sideEffects != arv1.SideEffectClassNoneOnDryRun:
		errs = append(errs, field.NotSupported(p.Child("sideEffects"), *w.sideEffects, []string{string(arv1.SideEffectClassNone), string(arv1.SideEffectClassNoneOnDryRun)}))
	}
	if t := w.timeoutSeconds; t != nil && (*t < 1 || *t > 30) {
		errs = append(errs, field.Invalid(p.Child("timeoutSeconds"), *t, "the timeout value must be between 1 and 30 seconds"))
	}
	errs = append(errs, validateReviewVersions(w.admissionReviewVersions, p.Child("admissionReviewVersions"))...)
	errs = append(errs, validateClientConfig(w.clientConfig, p.Child("clientConfig"))...)
	errs = append(errs, validateMatchConditions(w.matchConditions, p.Child("matchConditions"))...)
	return errs
}

func validateReviewVersions(versions []string, p *field.Path) field.ErrorList {
	if len(versions) == 0 {
		return field.ErrorList{field.Required(p, "must specify one of v1, v1beta1")}
	}
	var errs field.ErrorList
	seen, known := sets.New[string](), false
	for i, v := range versions {
		for _, msg := range validation.IsDNS1035Label(v) {
			errs = append(errs, field.Invalid(p.Index(i), v, msg))
		}
		if seen.Has(v) {
			errs = append(errs, field.Invalid(p.Index(i), v, "duplicate version"))
		}
		seen.Insert(v)
		if v == "v1" || v == "v1beta1" {
			known = true
		}
	}
	if !known {
		errs = append(errs, field.Invalid(p, versions, "must include at least one of v1, v1beta1"))
	}
	return errs
}

func validateClientConfig(cc arv1.WebhookClientConfig, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	switch {
	case (cc.URL == nil) == (cc.Service == nil):
		errs = append(errs, field.Required(p, "exactly one of url or service is required"))
	case cc.URL != nil:
		errs = append(errs, validateWebhookURL(*cc.URL, p.Child("url"))...)
	default:
		s := cc.Service
		sp := p.Child("service")
		if s.Name == "" {
			errs = append(errs, field.Required(sp.Child("name"), "service name is required"))
		}
		if s.Namespace == "" {
			errs = append(errs, field.Required(sp.Child("namespace"), "service namespace is required"))
		}
		if s.Port != nil {
			for _, msg := range validation.IsValidPortNum(int(*s.Port)) {
				errs = append(errs, field.Invalid(sp.Child("port"), *s.Port, "port is not valid: "+msg))
			}
		}
		if s.Path != nil {
			errs = append(errs, validateServicePath(*s.Path, sp.Child("path"))...)
		}
	}
	return errs
}

// validateServicePath checks a webhook service's path as upstream does:
// empty and "/" are fine; otherwise it starts with a slash and each
// segment is a non-empty DNS subdomain (one trailing slash allowed).
func validateServicePath(path string, p *field.Path) field.ErrorList {
	if path == "" || path == "/" {
		return nil
	}
	if path == "//" {
		return field.ErrorList{field.Invalid(p, path, "segment[0] may not be empty")}
	}
	var errs field.ErrorList
	if !strings.HasPrefix(path, "/") {
		errs = append(errs, field.Invalid(p, path, "must start with a '/'"))
	}
	rest := strings.TrimSuffix(path[1:], "/")
	for i, seg := range strings.Split(rest, "/") {
		if seg == "" {
			errs = append(errs, field.Invalid(p, path, fmt.Sprintf("segment[%d] may not be empty", i)))
			continue
		}
		for _, msg := range validation.IsDNS1123Subdomain(seg) {
			errs = append(errs, field.Invalid(p, path, fmt.Sprintf("segment[%d]: %s", i, msg)))
		}
	}
	return errs
}

func validateWebhookURL(raw string, p *field.Path) field.ErrorList {
	u, err := url.Parse(raw)
	if err != nil {
		return field.ErrorList{field.Required(p, "url must be a valid URL: "+err.Error())}
	}
	var errs field.ErrorList
	if u.Scheme != "https" {
		errs = append(errs, field.Invalid(p, u.Scheme, "'https' is the only allowed URL scheme"))
	}
	if u.Host == "" {
		errs = append(errs, field.Invalid(p, u.Host, "host must be specified"))
	}
	if u.User != nil {
		errs = append(errs, field.Invalid(p, u.User.String(), "user information is not permitted in the URL"))
	}
	if u.Fragment != "" || u.RawFragment != "" {
		errs = append(errs, field.Invalid(p, u.Fragment, "fragments are not permitted in the URL"))
	}
	if u.RawQuery != "" {
		errs = append(errs, field.Invalid(p, u.RawQuery, "query parameters are not permitted in the URL"))
	}
	return errs
}

var supportedOperations = []string{"*", string(arv1.Create), string(arv1.Update), string(arv1.Delete), string(arv1.Connect)}

func validateRuleWithOperations(r arv1.RuleWithOperations, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	if len(r.Operations) == 0 {
		errs = append(errs, field.Required(p.Child("operations"), ""))
	}
	if len(r.Operations) > 1 && hasWildcard(r.Operations) {
		errs = append(errs, field.Invalid(p.Child("operations"), r.Operations, "if '*' is present, must not specify other operations"))
	}
	for i, op := range r.Operations {
		if !sets.New(supportedOperations...).Has(string(op)) {
			errs = append(errs, field.NotSupported(p.Child("operations").Index(i), op, supportedOperations))
		}
	}
	return append(errs, validateRule(r.Rule, p)...)
}

func hasWildcard[T ~string](list []T) bool {
	for _, s := range list {
		if s == "*" {
			return true
		}
	}
	return false
}

func validateRule(r arv1.Rule, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	if len(r.APIGroups) == 0 {
		errs = append(errs, field.Required(p.Child("apiGroups"), ""))
	}
	if len(r.APIGroups) > 1 && hasWildcard(r.APIGroups) {
		errs = append(errs, field.Invalid(p.Child("apiGroups"), r.APIGroups, "if '*' is present, must not specify other API groups"))
	}
	if len(r.APIVersions) == 0 {
		errs = append(errs, field.Required(p.Child("apiVersions"), ""))
	}
	if len(r.APIVersions) > 1 && hasWildcard(r.APIVersions) {
		errs = append(errs, field.Invalid(p.Child("apiVersions"), r.APIVersions, "if '*' is present, must not specify other API versions"))
	}
	for i, v := range r.APIVersions {
		if v == "" {
			errs = append(errs, field.Required(p.Child("apiVersions").Index(i), ""))
		}
	}
	if len(r.Resources) == 0 {
		errs = append(errs, field.Required(p.Child("resources"), ""))
	}
	for i, res := range r.Resources {
		if res == "" {
			errs = append(errs, field.Required(p.Child("resources").Index(i), ""))
			continue
		}
		if main, sub, _ := strings.Cut(res, "/"); main == "*" && sub != "" && sub != "*" && len(r.Resources) > 1 {
			errs = append(errs, field.Invalid(p.Child("resources").Index(i), res, "if '*/"+sub+"' is present, must not specify other resources"))
		}
	}
	if len(r.Resources) > 1 && hasWildcard(r.Resources) {
		errs = append(errs, field.Invalid(p.Child("resources"), r.Resources, "if '*' is present, must not specify other resources without subresources"))
	}
	if r.Scope != nil {
		switch *r.Scope {
		case arv1.AllScopes, arv1.ClusterScope, arv1.NamespacedScope:
		default:
			errs = append(errs, field.NotSupported(p.Child("scope"), *r.Scope, []string{string(arv1.ClusterScope), string(arv1.NamespacedScope), string(arv1.AllScopes)}))
		}
	}
	return errs
}

func validateFailurePolicy(fp *arv1.FailurePolicyType, p *field.Path) field.ErrorList {
	if fp != nil && *fp != arv1.Fail && *fp != arv1.Ignore {
		return field.ErrorList{field.NotSupported(p, *fp, []string{string(arv1.Fail), string(arv1.Ignore)})}
	}
	return nil
}

func validateMatchPolicy(mp *arv1.MatchPolicyType, p *field.Path) field.ErrorList {
	if mp != nil && *mp != arv1.Equivalent && *mp != arv1.Exact {
		return field.ErrorList{field.NotSupported(p, *mp, []string{string(arv1.Equivalent), string(arv1.Exact)})}
	}
	return nil
}

func validateSelectors(ns, obj *metav1.LabelSelector, p *field.Path) field.ErrorList {
	opts := metav1validation.LabelSelectorValidationOptions{}
	var errs field.ErrorList
	if ns != nil {
		errs = append(errs, metav1validation.ValidateLabelSelector(ns, opts, p.Child("namespaceSelector"))...)
	}
	if obj != nil {
		errs = append(errs, metav1validation.ValidateLabelSelector(obj, opts, p.Child("objectSelector"))...)
	}
	return errs
}

func validateMatchConditions(conds []arv1.MatchCondition, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	if len(conds) > maxMatchConditions {
		errs = append(errs, field.TooMany(p, len(conds), maxMatchConditions))
	}
	names := sets.New[string]()
	for i, c := range conds {
		cp := p.Index(i)
		if c.Name == "" {
			errs = append(errs, field.Required(cp.Child("name"), ""))
		} else {
			for _, msg := range validation.IsQualifiedName(c.Name) {
				errs = append(errs, field.Invalid(cp.Child("name"), c.Name, msg))
			}
			if names.Has(c.Name) {
				errs = append(errs, field.Duplicate(cp.Child("name"), c.Name))
			}
			names.Insert(c.Name)
		}
		errs = append(errs, validateExpression(c.Expression, cp.Child("expression"))...)
	}
	return errs
}

// validateExpression requires a CEL expression that compiles.
func validateExpression(expr string, p *field.Path) field.ErrorList {
	if strings.TrimSpace(expr) == "" {
		return field.ErrorList{field.Required(p, "")}
	}
	if msg := compileError(expr); msg != "" {
		return field.ErrorList{field.Invalid(p, expr, msg)}
	}
	return nil
}

var supportedReasons = []string{string(metav1.StatusReasonUnauthorized), string(metav1.StatusReasonForbidden),
	string(metav1.StatusReasonInvalid), string(metav1.StatusReasonRequestEntityTooLarge)}

// validateParamKind checks a policy's paramKind: both fields are required
// once it is given.
func validateParamKind(pk *arv1.ParamKind, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	if pk == nil {
		return nil
	}
	if pk.Kind == "" {
		errs = append(errs, field.Required(p.Child("kind"), ""))
	}
	if pk.APIVersion == "" {
		errs = append(errs, field.Required(p.Child("apiVersion"), ""))
	}
	return errs
}

func validatePolicy(pol *arv1.ValidatingAdmissionPolicy) field.ErrorList {
	var errs field.ErrorList
	spec := pol.Spec
	p := field.NewPath("spec")
	errs = append(errs, validateParamKind(spec.ParamKind, p.Child("paramKind"))...)
	if spec.MatchConstraints == nil {
		errs = append(errs, field.Required(p.Child("matchConstraints"), ""))
	} else {
		errs = append(errs, validateMatchResources(spec.MatchConstraints, true, p.Child("matchConstraints"))...)
	}
	if len(spec.Validations) == 0 && len(spec.AuditAnnotations) == 0 {
		errs = append(errs, field.Required(p.Child("validations"), "validations or auditAnnotations must contain at least one item"))
	}
	for i, v := range spec.Validations {
		vp := p.Child("validations").Index(i)
		errs = append(errs, validateExpression(v.Expression, vp.Child("expression"))...)
		if v.MessageExpression != "" {
			errs = append(errs, validateExpression(v.MessageExpression, vp.Child("messageExpression"))...)
		}
		if strings.ContainsAny(v.Message, "\r\n") {
			errs = append(errs, field.Invalid(vp.Child("message"), v.Message, "message must not contain line breaks"))
		}
		if v.Reason != nil && !sets.New(supportedReasons...).Has(string(*v.Reason)) {
			errs = append(errs, field.NotSupported(vp.Child("reason"), *v.Reason, supportedReasons))
		}
	}
	for i, a := range spec.AuditAnnotations {
		ap := p.Child("auditAnnotations").Index(i)
		if a.Key == "" {
			errs = append(errs, field.Required(ap.Child("key"), ""))
		}
		errs = append(errs, validateExpression(a.ValueExpression, ap.Child("valueExpression"))...)
	}
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
	errs = append(errs, validateFailurePolicy(spec.FailurePolicy, p.Child("failurePolicy"))...)
	errs = append(errs, validateMatchConditions(spec.MatchConditions, p.Child("matchConditions"))...)
	return errs
}

func validateMatchResources(m *arv1.MatchResources, rulesRequired bool, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	if rulesRequired && len(m.ResourceRules) == 0 {
		errs = append(errs, field.Required(p.Child("resourceRules"), ""))
	}
	for i, r := range m.ResourceRules {
		errs = append(errs, validateRuleWithOperations(r.RuleWithOperations, p.Child("resourceRules").Index(i))...)
	}
	for i, r := range m.ExcludeResourceRules {
		errs = append(errs, validateRuleWithOperations(r.RuleWithOperations, p.Child("excludeResourceRules").Index(i))...)
	}
	errs = append(errs, validateMatchPolicy(m.MatchPolicy, p.Child("matchPolicy"))...)
	return append(errs, validateSelectors(m.NamespaceSelector, m.ObjectSelector, p)...)
}

var supportedActions = []string{string(arv1.Deny), string(arv1.Warn), string(arv1.Audit)}

func validateBinding(b *arv1.ValidatingAdmissionPolicyBinding) field.ErrorList {
	var errs field.ErrorList
	spec := b.Spec
	p := field.NewPath("spec")
	if spec.PolicyName == "" {
		errs = append(errs, field.Required(p.Child("policyName"), ""))
	}
	errs = append(errs, validateParamRef(spec.ParamRef, p.Child("paramRef"))...)
	if spec.MatchResources != nil {
		errs = append(errs, validateMatchResources(spec.MatchResources, false, p.Child("matchResources"))...)
	}
	ap := p.Child("validationActions")
	if len(spec.ValidationActions) == 0 {
		errs = append(errs, field.Required(ap, ""))
	}
	seen := sets.New[arv1.ValidationAction]()
	for i, a := range spec.ValidationActions {
		if !sets.New(supportedActions...).Has(string(a)) {
			errs = append(errs, field.NotSupported(ap.Index(i), a, supportedActions))
		}
		if seen.Has(a) {
			errs = append(errs, field.Duplicate(ap.Index(i), a))
		}
		seen.Insert(a)
	}
	if seen.Has(arv1.Deny) && seen.Has(arv1.Warn) {
		errs = append(errs, field.Invalid(ap, spec.ValidationActions, "must not contain both Deny and Warn (repeating the same validation failure information in the API response and headers serves no purpose)"))
	}
	return errs
}

// validateParamRef checks a binding's paramRef: a name or a selector, and
// what to do when no parameter is found.
func validateParamRef(pr *arv1.ParamRef, pp *field.Path) field.ErrorList {
	if pr == nil {
		return nil
	}
	var errs field.ErrorList
	switch {
	case pr.Name == "" && pr.Selector == nil:
		errs = append(errs, field.Required(pp, "one of name or selector must be specified"))
	case pr.Name != "" && pr.Selector != nil:
		errs = append(errs, field.Forbidden(pp.Child("name"), "name and selector are mutually exclusive"))
	}
	if pr.Selector != nil {
		errs = append(errs, metav1validation.ValidateLabelSelector(pr.Selector, metav1validation.LabelSelectorValidationOptions{}, pp.Child("selector"))...)
	}
	switch {
	case pr.ParameterNotFoundAction == nil:
		errs = append(errs, field.Required(pp.Child("parameterNotFoundAction"), ""))
	case *pr.ParameterNotFoundAction != arv1.DenyAction && *pr.ParameterNotFoundAction != arv1.AllowAction:
		errs = append(errs, field.NotSupported(pp.Child("parameterNotFoundAction"), *pr.ParameterNotFoundAction, []string{string(arv1.DenyAction), string(arv1.AllowAction)}))
	}
	return errs
}
