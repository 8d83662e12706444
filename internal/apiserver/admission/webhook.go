package admission

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"reflect"
	"sort"
	"sync"
	"time"

	jsonpatch "gopkg.in/evanphx/json-patch.v4"
	admissionv1 "k8s.io/api/admission/v1"
	arv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/uuid"

	"skiff/internal/apiserver/webhookclient"
)

// defaultWebhookTimeout is how long a call may take when the webhook does
// not say.
const defaultWebhookTimeout = 10 * time.Second

var (
	mutatingGVR   = arv1.SchemeGroupVersion.WithResource("mutatingwebhookconfigurations")
	validatingGVR = arv1.SchemeGroupVersion.WithResource("validatingwebhookconfigurations")
	servicesGVR   = corev1.SchemeGroupVersion.WithResource("services")
)

// webhooks calls admission webhooks.
type webhooks struct {
	objects Objects
	cel     *celPrograms
	clients *webhookclient.Pool
}

// hook is what calling needs of a mutating or validating webhook.
type hook struct {
	name              string
	clientConfig      arv1.WebhookClientConfig
	rules             []arv1.RuleWithOperations
	failurePolicy     *arv1.FailurePolicyType
	namespaceSelector *metav1.LabelSelector
	objectSelector    *metav1.LabelSelector
	sideEffects       *arv1.SideEffectClass
	timeoutSeconds    *int32
	reviewVersions    []string
	matchConditions   []arv1.MatchCondition
}

func (h *hook) ignoreFailures() bool {
	return h.failurePolicy != nil && *h.failurePolicy == arv1.Ignore
}

// mutatingHooks lists the mutating webhooks, by configuration name and
// then in their configuration's order, as upstream calls them.
func (w *webhooks) mutatingHooks() []hook {
	var configs []*arv1.MutatingWebhookConfiguration
	for _, o := range w.objects.List(mutatingGVR, "") {
		if c, ok := o.(*arv1.MutatingWebhookConfiguration); ok {
			configs = append(configs, c)
		}
	}
	sort.Slice(configs, func(i, j int) bool { return configs[i].Name < configs[j].Name })
	var out []hook
	for _, c := range configs {
		for _, h := range c.Webhooks {
			out = append(out, hook{h.Name, h.ClientConfig, h.Rules, h.FailurePolicy, h.NamespaceSelector, h.ObjectSelector,
				h.SideEffects, h.TimeoutSeconds, h.AdmissionReviewVersions, h.MatchConditions})
		}
	}
	return out
}

func (w *webhooks) validatingHooks() []hook {
	var configs []*arv1.ValidatingWebhookConfiguration
	for _, o := range w.objects.List(validatingGVR, "") {
		if c, ok := o.(*arv1.ValidatingWebhookConfiguration); ok {
			configs = append(configs, c)
		}
	}
	sort.Slice(configs, func(i, j int) bool { return configs[i].Name < configs[j].Name })
	var out []hook
	for _, c := range configs {
		for _, h := range c.Webhooks {
			out = append(out, hook{h.Name, h.ClientConfig, h.Rules, h.FailurePolicy, h.NamespaceSelector, h.ObjectSelector,
				h.SideEffects, h.TimeoutSeconds, h.AdmissionReviewVersions, h.MatchConditions})
		}
	}
	return out
}

// shouldCall decides whether h applies to a: a rule, the namespace and
// object selectors, then the match conditions must all match.
func (w *webhooks) shouldCall(h *hook, a *Attributes) (bool, error) {
	matched := false
	for _, r := range h.rules {
		if matchRule(r, a) {
			matched = true
			break
		}
	}
	if !matched {
		return false, nil
	}
	if ok, err := matchNamespace(w.objects, h.namespaceSelector, a); !ok || err != nil {
		return false, err
	}
	if ok, err := matchObject(h.objectSelector, a); !ok || err != nil {
		return false, err
	}
	if len(h.matchConditions) == 0 {
		return true, nil
	}
	vars, err := celVars(a)
	if err != nil {
		return false, apierrors.NewInternalError(err)
	}
	names, exprs := make([]string, len(h.matchConditions)), make([]string, len(h.matchConditions))
	for i, c := range h.matchConditions {
		names[i], exprs[i] = c.Name, c.Expression
	}
	ok, err := w.cel.matchConditions(names, exprs, vars)
	if err != nil {
		if h.ignoreFailures() {
			return false, nil
		}
		return false, forbidden(a, err)
	}
	return ok, nil
}

// mutatingWebhook is upstream's MutatingAdmissionWebhook plugin: the
// webhooks of MutatingWebhookConfigurations, called one after another.
type mutatingWebhook struct{ w *webhooks }

var _ Mutator = mutatingWebhook{}

func (mutatingWebhook) Name() string { return "MutatingAdmissionWebhook" }

func (mutatingWebhook) Handles(Operation) bool { return true }

// Admit replaces a.Object with the object the webhooks leave, when one of
// them patched it.
func (p mutatingWebhook) Admit(ctx context.Context, a *Attributes) error {
	if exempt(a) {
		return nil
	}
	out, warnings, err := p.w.mutate(ctx, a)
	warn(ctx, warnings)
	if err != nil {
		return err
	}
	a.Object = out
	return nil
}

// validatingWebhook is upstream's ValidatingAdmissionWebhook plugin: the
// webhooks of ValidatingWebhookConfigurations, called in parallel.
type validatingWebhook struct{ w *webhooks }

var _ Validator = validatingWebhook{}

func (validatingWebhook) Name() string { return "ValidatingAdmissionWebhook" }

func (validatingWebhook) Handles(Operation) bool { return true }

func (p validatingWebhook) Validate(ctx context.Context, a *Attributes) error {
	if exempt(a) {
		return nil
	}
	warnings, err := p.w.validate(ctx, a)
	warn(ctx, warnings)
	return err
}

// mutate calls the matching mutating webhooks one after another, each
// seeing the object as the previous one left it.
func (w *webhooks) mutate(ctx context.Context, a *Attributes) (runtime.Object, []string, error) {
	hooks := w.mutatingHooks()
	if len(hooks) == 0 {
		return a.Object, nil, nil
	}
	cur := *a
	var warnings []string
	for i := range hooks {
		h := &hooks[i]
		call, err := w.shouldCall(h, &cur)
		if err != nil {
			return nil, warnings, err
		}
		if !call {
			continue
		}
		resp, err := w.call(ctx, h, &cur, true)
		if err == nil {
			warnings = append(warnings, resp.Warnings...)
			if !resp.Allowed {
				return nil, warnings, denied(&cur, h.name, resp.Result)
			}
			if len(resp.Patch) > 0 && cur.Object != nil {
				var obj runtime.Object
				obj, err = applyJSONPatch(h.name, cur.Object, resp.Patch)
				if err == nil {
					cur.Object = obj
				}
			}
		}
		if err != nil {
			if ce := (*callError)(nil); errors.As(err, &ce) {
				if h.ignoreFailures() {
					continue
				}
				return nil, warnings, apierrors.NewInternalError(err)
			}
			return nil, warnings, err
		}
	}
	return cur.Object, warnings, nil
}

// validate calls the matching validating webhooks in parallel; the first
// refusal, in configuration order, answers.
func (w *webhooks) validate(ctx context.Context, a *Attributes) ([]string, error) {
	var relevant []*hook
	hooks := w.validatingHooks()
	for i := range hooks {
		call, err := w.shouldCall(&hooks[i], a)
		if err != nil {
			return nil, err
		}
		if call {
			relevant = append(relevant, &hooks[i])
		}
	}
	if len(relevant) == 0 {
		return nil, nil
	}
	type result struct {
		warnings []string
		err      error
	}
	results := make([]result, len(relevant))
	var wg sync.WaitGroup
	for i, h := range relevant {
		wg.Go(func() {
			resp, err := w.call(ctx, h, a, false)
			switch {
			case err != nil:
				if ce := (*callError)(nil); errors.As(err, &ce) {
					if !h.ignoreFailures() {
						results[i].err = apierrors.NewInternalError(err)
					}
					return
				}
				results[i].err = err
			case !resp.Allowed:
				results[i] = result{warnings: resp.Warnings, err: denied(a, h.name, resp.Result)}
			default:
				results[i].warnings = resp.Warnings
			}
		})
	}
	wg.Wait()
	var warnings []string
	var firstErr error
	for _, r := range results {
		warnings = append(warnings, r.warnings...)
		if firstErr == nil {
			firstErr = r.err
		}
	}
	return warnings, firstErr
}

// denied is upstream's webhook rejection: the webhook's status, its code
// (403 by default), prefixed with who refused.
func denied(a *Attributes, webhook string, result *metav1.Status) error {
	st := metav1.Status{}
	if result != nil {
		st = *result.DeepCopy()
	}
	if st.Code == 0 {
		st.Code = http.StatusForbidden
	}
	st.Status = metav1.StatusFailure
	by := fmt.Sprintf("admission webhook %q denied the request", webhook)
	switch {
	case st.Message != "":
		st.Message = by + ": " + st.Message
	case st.Reason != "":
		st.Message = by + ": " + string(st.Reason)
	default:
		st.Message = by + " without explanation"
	}
	name := a.Name
	if name == "" {
		name = "Unknown"
	}
	internal := st.Code == http.StatusInternalServerError
	if st.Details == nil {
		if internal {
			st.Details = &metav1.StatusDetails{Causes: []metav1.StatusCause{{Message: st.Message}}}
		} else {
			st.Details = &metav1.StatusDetails{Group: a.Resource.Group, Kind: a.Resource.Resource, Name: name}
		}
	}
	if internal {
		st.Message = "Internal error occurred: " + st.Message
	} else {
		st.Message = fmt.Sprintf("%s %q is forbidden: %s", a.Resource.GroupResource(), name, st.Message)
	}
	if st.Reason == "" {
		st.Reason = metav1.StatusReasonForbidden
		if internal {
			st.Reason = metav1.StatusReasonInternalError
		}
	}
	return &apierrors.StatusError{ErrStatus: st}
}

// call sends one AdmissionReview and checks the answer. Failures to get a
// valid answer are *callError.
func (w *webhooks) call(ctx context.Context, h *hook, a *Attributes, mutating bool) (*admissionv1.AdmissionResponse, error) {
	if a.DryRun {
		if h.sideEffects == nil {
			return nil, &callError{h.name, errors.New("Webhook SideEffects is nil")}
		}
		if *h.sideEffects != arv1.SideEffectClassNone && *h.sideEffects != arv1.SideEffectClassNoneOnDryRun {
			return nil, apierrors.NewBadRequest(fmt.Sprintf("admission webhook %q does not support dry run", h.name))
		}
	}
	version := reviewVersion(h.reviewVersions)
	if version == "" {
		return nil, &callError{h.name, fmt.Errorf("webhook does not accept known AdmissionReview versions %v", h.reviewVersions)}
	}
	req, err := reviewRequest(a)
	if err != nil {
		return nil, &callError{h.name, err}
	}
	body, err := json.Marshal(admissionv1.AdmissionReview{
		TypeMeta: metav1.TypeMeta{APIVersion: version, Kind: "AdmissionReview"}, Request: req})
	if err != nil {
		return nil, &callError{h.name, err}
	}
	timeout := defaultWebhookTimeout
	if h.timeoutSeconds != nil {
		timeout = time.Duration(*h.timeoutSeconds) * time.Second
	}
	data, err := w.clients.Post(ctx, endpoint(h.clientConfig), w.lookupService, timeout, body)
	if err != nil {
		return nil, &callError{h.name, err}
	}
	review := &admissionv1.AdmissionReview{}
	if err := json.Unmarshal(data, review); err != nil {
		return nil, &callError{h.name, fmt.Errorf("received invalid webhook response: %w", err)}
	}
	if err := checkResponse(review, req.UID, version, mutating); err != nil {
		return nil, &callError{h.name, err}
	}
	return review.Response, nil
}

// reviewVersion picks the AdmissionReview version to send: v1 when the
// webhook takes it, else v1beta1 (the same shape on the wire).
func reviewVersion(accepted []string) string {
	for _, want := range []string{"v1", "v1beta1"} {
		for _, v := range accepted {
			if v == want {
				return "admission.k8s.io/" + v
			}
		}
	}
	return ""
}

// checkResponse verifies what upstream verifies of an answer.
func checkResponse(r *admissionv1.AdmissionReview, uid types.UID, version string, mutating bool) error {
	if r.Response == nil {
		return errors.New("webhook response was absent")
	}
	if version == "admission.k8s.io/v1" {
		if r.Response.UID != uid {
			return fmt.Errorf("expected response.uid=%q, got %q", uid, r.Response.UID)
		}
		if r.APIVersion != version || r.Kind != "AdmissionReview" {
			return fmt.Errorf("expected webhook response of admission.k8s.io/v1, Kind=AdmissionReview, got %s, Kind=%s", r.APIVersion, r.Kind)
		}
	}
	if !mutating {
		r.Response.Patch, r.Response.PatchType = nil, nil
		return nil
	}
	if len(r.Response.Patch) > 0 && r.Response.PatchType == nil {
		return errors.New("webhook returned response.patch but not response.patchType")
	}
	if len(r.Response.Patch) == 0 && r.Response.PatchType != nil {
		return errors.New("webhook returned response.patchType but not response.patch")
	}
	if pt := r.Response.PatchType; pt != nil && *pt != admissionv1.PatchTypeJSONPatch {
		return fmt.Errorf("unsupported patch type %q", *pt)
	}
	return nil
}

// reviewRequest builds the AdmissionRequest of a.
func reviewRequest(a *Attributes) (*admissionv1.AdmissionRequest, error) {
	obj, err := rawObject(a.Object, a)
	if err != nil {
		return nil, err
	}
	old, err := rawObject(a.OldObject, a)
	if err != nil {
		return nil, err
	}
	opts, err := rawObject(a.Options, nil)
	if err != nil {
		return nil, err
	}
	dryRun := a.DryRun
	gvk := metav1.GroupVersionKind{Group: a.Kind.Group, Version: a.Kind.Version, Kind: a.Kind.Kind}
	gvr := metav1.GroupVersionResource{Group: a.Resource.Group, Version: a.Resource.Version, Resource: a.Resource.Resource}
	user := a.User
	return &admissionv1.AdmissionRequest{
		UID: uuid.NewUUID(), Kind: gvk, Resource: gvr, SubResource: a.SubResource,
		RequestKind: &gvk, RequestResource: &gvr, RequestSubResource: a.SubResource,
		Name: a.Name, Namespace: a.Namespace, Operation: admissionv1.Operation(a.Operation),
		UserInfo: user, Object: obj, OldObject: old, DryRun: &dryRun, Options: opts,
	}, nil
}

// rawObject encodes obj as JSON, with its apiVersion and kind (a's kind
// when it carries none).
func rawObject(obj runtime.Object, a *Attributes) (runtime.RawExtension, error) {
	if obj == nil || reflect.ValueOf(obj).IsNil() {
		return runtime.RawExtension{}, nil
	}
	if obj.GetObjectKind().GroupVersionKind().Empty() && a != nil {
		obj = obj.DeepCopyObject()
		obj.GetObjectKind().SetGroupVersionKind(a.Kind)
	}
	data, err := json.Marshal(obj)
	if err != nil {
		return runtime.RawExtension{}, fmt.Errorf("encode %T: %w", obj, err)
	}
	return runtime.RawExtension{Raw: data}, nil
}

// applyJSONPatch applies a webhook's patch to obj and decodes the result
// into a new object of obj's type.
func applyJSONPatch(webhook string, obj runtime.Object, patch []byte) (runtime.Object, error) {
	p, err := jsonpatch.DecodePatch(patch)
	if err != nil {
		return nil, &callError{webhook, fmt.Errorf("decode JSON patch: %w", err)}
	}
	cur, err := json.Marshal(obj)
	if err != nil {
		return nil, apierrors.NewInternalError(err)
	}
	patched, err := p.Apply(cur)
	if err != nil {
		return nil, &callError{webhook, fmt.Errorf("apply JSON patch: %w", err)}
	}
	var out runtime.Object
	if _, ok := obj.(*unstructured.Unstructured); ok {
		out = &unstructured.Unstructured{}
	} else {
		out = reflect.New(reflect.TypeOf(obj).Elem()).Interface().(runtime.Object)
	}
	if err := json.Unmarshal(patched, out); err != nil {
		return nil, &callError{webhook, fmt.Errorf("decode patched object: %w", err)}
	}
	out.GetObjectKind().SetGroupVersionKind(obj.GetObjectKind().GroupVersionKind())
	return out, nil
}

// endpoint is where webhookclient finds cc.
func endpoint(cc arv1.WebhookClientConfig) webhookclient.Endpoint {
	e := webhookclient.Endpoint{URL: cc.URL, CABundle: cc.CABundle}
	if s := cc.Service; s != nil {
		e.Service = &webhookclient.ServiceRef{Namespace: s.Namespace, Name: s.Name, Path: s.Path, Port: s.Port}
	}
	return e
}

// lookupService finds a webhook's Service among the served objects.
func (w *webhooks) lookupService(namespace, name string) (*corev1.Service, bool) {
	o, ok := w.objects.Get(servicesGVR, namespace, name)
	svc, _ := o.(*corev1.Service)
	return svc, ok && svc != nil
}
