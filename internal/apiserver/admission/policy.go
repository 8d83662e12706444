package admission

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strings"

	arv1 "k8s.io/api/admissionregistration/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

var (
	policiesGVR = arv1.SchemeGroupVersion.WithResource("validatingadmissionpolicies")
	bindingsGVR = arv1.SchemeGroupVersion.WithResource("validatingadmissionpolicybindings")
)

// policies evaluates ValidatingAdmissionPolicies through their bindings.
type policies struct {
	objects Objects
	cel     *celPrograms
}

// decision is one failed validation (or configuration error) of a policy
// through a binding.
type decision struct {
	policy, binding string
	message         string
	reason          metav1.StatusReason
}

// validatingAdmissionPolicy is upstream's ValidatingAdmissionPolicy
// plugin: the CEL validations of ValidatingAdmissionPolicies, through
// their bindings.
type validatingAdmissionPolicy struct{ p *policies }

var _ Validator = validatingAdmissionPolicy{}

func (validatingAdmissionPolicy) Name() string { return "ValidatingAdmissionPolicy" }

func (validatingAdmissionPolicy) Handles(Operation) bool { return true }

func (v validatingAdmissionPolicy) Validate(ctx context.Context, a *Attributes) error {
	if exempt(a) {
		return nil
	}
	warnings, err := v.p.validate(ctx, a)
	warn(ctx, warnings)
	return err
}

// validate evaluates every policy that matches a through each of its
// bindings that matches: Deny failures refuse the request (the first one
// answers), Warn failures become warnings, Audit failures are dropped.
func (p *policies) validate(_ context.Context, a *Attributes) ([]string, error) {
	bindings := map[string][]*arv1.ValidatingAdmissionPolicyBinding{}
	for _, o := range p.objects.List(bindingsGVR, "") {
		if b, ok := o.(*arv1.ValidatingAdmissionPolicyBinding); ok {
			bindings[b.Spec.PolicyName] = append(bindings[b.Spec.PolicyName], b)
		}
	}
	if len(bindings) == 0 {
		return nil, nil
	}
	var list []*arv1.ValidatingAdmissionPolicy
	for _, o := range p.objects.List(policiesGVR, "") {
		if pol, ok := o.(*arv1.ValidatingAdmissionPolicy); ok && len(bindings[pol.Name]) > 0 {
			list = append(list, pol)
		}
	}
	sort.Slice(list, func(i, j int) bool { return list[i].Name < list[j].Name })
	var warnings []string
	var denials []decision
	for _, pol := range list {
		bs := bindings[pol.Name]
		sort.Slice(bs, func(i, j int) bool { return bs[i].Name < bs[j].Name })
		w, d := p.evaluatePolicy(pol, bs, a)
		warnings = append(warnings, w...)
		denials = append(denials, d...)
	}
	if len(denials) == 0 {
		return warnings, nil
	}
	return warnings, denialError(a, denials[0])
}

// evaluatePolicy runs one policy through its bindings.
func (p *policies) evaluatePolicy(pol *arv1.ValidatingAdmissionPolicy, bindings []*arv1.ValidatingAdmissionPolicyBinding, a *Attributes) (warnings []string, denials []decision) {
	failOpen := pol.Spec.FailurePolicy != nil && *pol.Spec.FailurePolicy == arv1.Ignore
	configError := func(binding string, err error) {
		if failOpen {
			return
		}
		what := "policy"
		if binding != "" {
			what = "binding"
		}
		denials = append(denials, decision{policy: pol.Name, binding: binding, message: fmt.Sprintf("failed to configure %s: %v", what, err)})
	}
	if pol.Spec.MatchConstraints == nil {
		return nil, nil
	}
	ok, err := p.matchResources(pol.Spec.MatchConstraints, a)
	if err != nil {
		configError("", err)
		return warnings, denials
	}
	if !ok {
		return nil, nil
	}
	vars, err := celVars(a)
	if err != nil {
		configError("", err)
		return warnings, denials
	}
	if a.Namespace != "" {
		if ns, found := p.objects.Get(namespacesGVR, "", a.Namespace); found {
			vars["namespaceObject"], _ = toCEL(ns)
		}
	}
	for _, b := range bindings {
		if mr := b.Spec.MatchResources; mr != nil {
			ok, err := p.matchResources(mr, a)
			if err != nil {
				configError(b.Name, err)
				continue
			}
			if !ok {
				continue
			}
		}
		params, err := p.params(pol.Spec.ParamKind, b.Spec.ParamRef, a)
		if err != nil {
			configError(b.Name, err)
			continue
		}
		for _, param := range params {
			vars["params"] = param
			for _, f := range p.evaluate(pol, vars) {
				f.policy, f.binding = pol.Name, b.Name
				for _, action := range b.Spec.ValidationActions {
					switch action {
					case arv1.Deny:
						denials = append(denials, f)
					case arv1.Warn:
						warnings = append(warnings, fmt.Sprintf("Validation failed for ValidatingAdmissionPolicy '%s' with binding '%s': %s", pol.Name, b.Name, f.message))
					}
				}
			}
		}
	}
	return warnings, denials
}

// evaluate runs a policy's match conditions, variables and validations
// with vars and returns the failures.
func (p *policies) evaluate(pol *arv1.ValidatingAdmissionPolicy, vars map[string]any) []decision {
	failOpen := pol.Spec.FailurePolicy != nil && *pol.Spec.FailurePolicy == arv1.Ignore
	if conds := pol.Spec.MatchConditions; len(conds) > 0 {
		names, exprs := make([]string, len(conds)), make([]string, len(conds))
		for i, c := range conds {
			names[i], exprs[i] = c.Name, c.Expression
		}
		ok, err := p.cel.matchConditions(names, exprs, vars)
		if err != nil {
			if failOpen {
				return nil
			}
			return []decision{{message: err.Error()}}
		}
		if !ok {
			return nil
		}
	}
	variables := map[string]any{}
	vars["variables"] = variables
	for _, v := range pol.Spec.Variables {
		val, err := p.cel.eval(v.Expression, vars)
		if err != nil {
			// Variables are lazy upstream: an error counts only where the
			// variable is used, which the error value achieves.
			variables[v.Name] = errValue(fmt.Errorf("variable %q: %w", v.Name, err))
			continue
		}
		variables[v.Name] = val
	}
	var out []decision
	for _, v := range pol.Spec.Validations {
		ok, err := p.cel.evalBool(v.Expression, vars)
		if err != nil {
			if !failOpen {
				out = append(out, decision{message: fmt.Sprintf("expression '%v' resulted in error: %v", v.Expression, err)})
			}
			continue
		}
		if ok {
			continue
		}
		d := decision{message: p.message(v, vars)}
		if v.Reason != nil {
			d.reason = *v.Reason
		}
		out = append(out, d)
	}
	return out
}

// message is a failed validation's message: messageExpression's result,
// else message, else the expression itself.
func (p *policies) message(v arv1.Validation, vars map[string]any) string {
	if v.MessageExpression != "" {
		if msg, err := p.cel.evalString(v.MessageExpression, vars); err == nil && trimmed(msg) != "" && !strings.ContainsAny(msg, "\r\n") {
			return msg
		}
	}
	if v.Message != "" {
		return v.Message
	}
	return "failed expression: " + strings.TrimSpace(v.Expression)
}

// params returns the parameter values a binding (its paramRef) evaluates
// a policy (of paramKind pk) with: one nil when the policy takes none.
func (p *policies) params(pk *arv1.ParamKind, ref *arv1.ParamRef, a *Attributes) ([]any, error) {
	if pk == nil {
		return []any{nil}, nil
	}
	if ref == nil {
		return nil, errors.New("paramRef is required when paramKind is set")
	}
	gv, err := schema.ParseGroupVersion(pk.APIVersion)
	if err != nil {
		return nil, fmt.Errorf("invalid paramKind apiVersion %q: %w", pk.APIVersion, err)
	}
	gvk := gv.WithKind(pk.Kind)
	gvr, namespaced, ok := p.objects.ResourceFor(gvk)
	if !ok {
		return nil, fmt.Errorf("failed to find resource referenced by paramKind: '%v'", gvk)
	}
	ns := ""
	if namespaced {
		ns = ref.Namespace
		if ns == "" {
			ns = a.Namespace
		}
		if ns == "" {
			return nil, errors.New("cannot use namespaced paramRef in policy binding that matches cluster-scoped resources")
		}
	}
	var found []runtime.Object
	switch {
	case ref.Name != "":
		if o, ok := p.objects.Get(gvr, ns, ref.Name); ok {
			found = append(found, o)
		}
	case ref.Selector != nil:
		sel, err := metav1.LabelSelectorAsSelector(ref.Selector)
		if err != nil {
			return nil, err
		}
		for _, o := range p.objects.List(gvr, ns) {
			if matchLabels(sel, o) {
				found = append(found, o)
			}
		}
	default:
		return nil, errors.New("one of name or selector must be provided")
	}
	if len(found) == 0 {
		if ref.ParameterNotFoundAction != nil && *ref.ParameterNotFoundAction == arv1.DenyAction {
			return nil, errors.New("no params found for policy binding with `Deny` parameterNotFoundAction")
		}
		return nil, nil
	}
	out := make([]any, 0, len(found))
	for _, o := range found {
		v, err := toCEL(o)
		if err != nil {
			return nil, err
		}
		if m, ok := v.(map[string]any); ok {
			m["apiVersion"], m["kind"] = pk.APIVersion, pk.Kind
		}
		out = append(out, v)
	}
	return out, nil
}

// matchResources applies a policy's matchConstraints or a binding's
// matchResources: selectors, then excluded rules, then resource rules
// (none means every resource).
func (p *policies) matchResources(m *arv1.MatchResources, a *Attributes) (bool, error) {
	if ok, err := matchNamespace(p.objects, m.NamespaceSelector, a); !ok || err != nil {
		return false, err
	}
	if ok, err := matchObject(m.ObjectSelector, a); !ok || err != nil {
		return false, err
	}
	for _, r := range m.ExcludeResourceRules {
		if matchNamedRule(r, a) {
			return false, nil
		}
	}
	if len(m.ResourceRules) == 0 {
		return true, nil
	}
	for _, r := range m.ResourceRules {
		if matchNamedRule(r, a) {
			return true, nil
		}
	}
	return false, nil
}

func matchNamedRule(r arv1.NamedRuleWithOperations, a *Attributes) bool {
	if !matchRule(r.RuleWithOperations, a) {
		return false
	}
	if len(r.ResourceNames) == 0 {
		return true
	}
	name := a.Name
	if name == "" && a.Object != nil {
		name = errorName(a)
	}
	for _, n := range r.ResourceNames {
		if n == name {
			return true
		}
	}
	return false
}

// denialError is upstream's refusal by a policy: Forbidden's message,
// with the validation's reason (Invalid by default) and its code.
func denialError(a *Attributes, d decision) error {
	var msg string
	if d.binding != "" {
		msg = fmt.Sprintf("ValidatingAdmissionPolicy '%s' with binding '%s' denied request: %s", d.policy, d.binding, d.message)
	} else {
		msg = fmt.Sprintf("ValidatingAdmissionPolicy '%s' denied request: %s", d.policy, d.message)
	}
	err := forbidden(a, errors.New(msg))
	reason := d.reason
	if reason == "" {
		reason = metav1.StatusReasonInvalid
	}
	err.ErrStatus.Reason = reason
	err.ErrStatus.Code = reasonCode(reason)
	err.ErrStatus.Details.Causes = append(err.ErrStatus.Details.Causes, metav1.StatusCause{Message: msg})
	return err
}

func reasonCode(r metav1.StatusReason) int32 {
	switch r {
	case metav1.StatusReasonForbidden:
		return http.StatusForbidden
	case metav1.StatusReasonUnauthorized:
		return http.StatusUnauthorized
	case metav1.StatusReasonRequestEntityTooLarge:
		return http.StatusRequestEntityTooLarge
	}
	return http.StatusUnprocessableEntity
}
