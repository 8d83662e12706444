package conversion

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/uuid"
	"k8s.io/apimachinery/pkg/util/validation"

	"skiff/internal/apiserver/webhookclient"
)

// DefaultTimeout is how long a conversion webhook may take, as upstream.
const DefaultTimeout = 30 * time.Second

// Config configures a Webhook converter.
type Config struct {
	// Services finds the Service of a webhook given by reference. Required.
	Services webhookclient.ServiceLookup
	// Clients reuses connections; a new pool when nil.
	Clients *webhookclient.Pool
	// Timeout bounds one call; DefaultTimeout when zero.
	Timeout time.Duration
}

func (c *Config) validate() error {
	if c.Services == nil {
		return errors.New("conversion: Config.Services is required")
	}
	return nil
}

// Webhook calls conversion webhooks.
type Webhook struct {
	cfg Config
}

// New returns a Webhook converter.
func New(cfg Config) (*Webhook, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if cfg.Clients == nil {
		cfg.Clients = webhookclient.NewPool()
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = DefaultTimeout
	}
	return &Webhook{cfg: cfg}, nil
}

// Convert returns objs at desired, in order. Objects already there are
// returned as they are (and no call is made when all are); the others are
// converted by hook in one review. objs are not changed.
func (w *Webhook) Convert(ctx context.Context, hook *apiextensionsv1.WebhookConversion, objs []*unstructured.Unstructured, desired schema.GroupVersion) ([]*unstructured.Unstructured, error) {
	out := make([]*unstructured.Unstructured, len(objs))
	var send []int
	for i, o := range objs {
		if o.GetAPIVersion() == desired.String() {
			out[i] = o
			continue
		}
		send = append(send, i)
	}
	if len(send) == 0 {
		return out, nil
	}
	in := make([]*unstructured.Unstructured, len(send))
	for j, i := range send {
		in[j] = objs[i]
	}
	converted, err := w.call(ctx, hook, in, desired)
	if err != nil {
		return nil, fmt.Errorf("conversion webhook for %v failed: %w", objs[send[0]].GroupVersionKind(), err)
	}
	for j, i := range send {
		out[i] = converted[j]
	}
	return out, nil
}

// call sends one review and returns its checked objects.
func (w *Webhook) call(ctx context.Context, hook *apiextensionsv1.WebhookConversion, in []*unstructured.Unstructured, desired schema.GroupVersion) ([]*unstructured.Unstructured, error) {
	if hook == nil || hook.ClientConfig == nil {
		return nil, errors.New("webhook has no clientConfig")
	}
	version := reviewVersion(hook.ConversionReviewVersions)
	if version == "" {
		return nil, fmt.Errorf("webhook does not accept known ConversionReview versions %v", hook.ConversionReviewVersions)
	}
	req, err := Request(in, desired)
	if err != nil {
		return nil, err
	}
	body, err := json.Marshal(&apiextensionsv1.ConversionReview{
		TypeMeta: metav1.TypeMeta{APIVersion: version, Kind: "ConversionReview"}, Request: req})
	if err != nil {
		return nil, err
	}
	data, err := w.cfg.Clients.Post(ctx, endpoint(hook.ClientConfig), w.cfg.Services, w.cfg.Timeout, body)
	if err != nil {
		return nil, err
	}
	review := &apiextensionsv1.ConversionReview{}
	if err := json.Unmarshal(data, review); err != nil {
		return nil, fmt.Errorf("received invalid webhook response: %w", err)
	}
	return CheckResponse(review, version, req.UID, in, desired)
}

// endpoint is where webhookclient finds cc.
func endpoint(cc *apiextensionsv1.WebhookClientConfig) webhookclient.Endpoint {
	e := webhookclient.Endpoint{URL: cc.URL, CABundle: cc.CABundle}
	if s := cc.Service; s != nil {
		e.Service = &webhookclient.ServiceRef{Namespace: s.Namespace, Name: s.Name, Path: s.Path, Port: s.Port}
	}
	return e
}

// reviewVersion picks the ConversionReview version to send: v1 when the
// webhook takes it, else v1beta1 (the same shape on the wire).
func reviewVersion(accepted []string) string {
	for _, want := range []string{"v1", "v1beta1"} {
		for _, v := range accepted {
			if v == want {
				return "apiextensions.k8s.io/" + v
			}
		}
	}
	return ""
}

// Request builds the review request that converts in to desired.
func Request(in []*unstructured.Unstructured, desired schema.GroupVersion) (*apiextensionsv1.ConversionRequest, error) {
	req := &apiextensionsv1.ConversionRequest{UID: uuid.NewUUID(), DesiredAPIVersion: desired.String()}
	for _, o := range in {
		raw, err := o.MarshalJSON()
		if err != nil {
			return nil, fmt.Errorf("encode %s: %w", o.GetName(), err)
		}
		req.Objects = append(req.Objects, runtime.RawExtension{Raw: raw})
	}
	return req, nil
}

// CheckResponse verifies a webhook's answer to the request of uid that
// converts in to desired, and returns the converted objects: each keeps
// the metadata of its input but for labels and annotations, which the
// webhook may change.
func CheckResponse(review *apiextensionsv1.ConversionReview, version string, uid types.UID, in []*unstructured.Unstructured, desired schema.GroupVersion) ([]*unstructured.Unstructured, error) {
	r := review.Response
	if r == nil {
		return nil, errors.New("no response provided")
	}
	if version == "apiextensions.k8s.io/v1" && (review.APIVersion != version || review.Kind != "ConversionReview") {
		return nil, fmt.Errorf("expected webhook response of %s, Kind=ConversionReview, got %s, Kind=%s", version, review.APIVersion, review.Kind)
	}
	if r.UID != uid {
		return nil, fmt.Errorf("expected response.uid=%q, got %q", uid, r.UID)
	}
	if r.Result.Status != metav1.StatusSuccess {
		msg := r.Result.Message
		if msg == "" {
			msg = "conversion failed without a message"
		}
		return nil, errors.New(msg)
	}
	if len(r.ConvertedObjects) != len(in) {
		return nil, fmt.Errorf("expected %d converted objects, got %d", len(in), len(r.ConvertedObjects))
	}
	out := make([]*unstructured.Unstructured, len(in))
	for i, raw := range r.ConvertedObjects {
		o := &unstructured.Unstructured{}
		if err := o.UnmarshalJSON(raw.Raw); err != nil {
			return nil, fmt.Errorf("invalid converted object at index %d: %w", i, err)
		}
		merged, err := restoreMetadata(in[i], o, desired)
		if err != nil {
			return nil, fmt.Errorf("invalid converted object at index %d: %w", i, err)
		}
		out[i] = merged
	}
	return out, nil
}

// restoreMetadata checks one converted object against its input and
// returns it with the input's metadata, but for the labels and
// annotations the webhook set.
func restoreMetadata(in, out *unstructured.Unstructured, desired schema.GroupVersion) (*unstructured.Unstructured, error) {
	if out.GetAPIVersion() != desired.String() {
		return nil, fmt.Errorf("invalid apiVersion %q, expected %q", out.GetAPIVersion(), desired.String())
	}
	if out.GetKind() != in.GetKind() {
		return nil, fmt.Errorf("invalid kind %q, expected %q", out.GetKind(), in.GetKind())
	}
	if out.GetName() != in.GetName() || out.GetNamespace() != in.GetNamespace() || out.GetUID() != in.GetUID() {
		return nil, errors.New("must not change metadata.name, metadata.namespace or metadata.uid")
	}
	for k, v := range out.GetLabels() {
		if errs := validation.IsQualifiedName(k); len(errs) > 0 {
			return nil, fmt.Errorf("invalid label key %q: %v", k, errs)
		}
		if errs := validation.IsValidLabelValue(v); len(errs) > 0 {
			return nil, fmt.Errorf("invalid label value %q: %v", v, errs)
		}
	}
	for k := range out.GetAnnotations() {
		if errs := validation.IsQualifiedName(k); len(errs) > 0 {
			return nil, fmt.Errorf("invalid annotation key %q: %v", k, errs)
		}
	}
	labels, annotations := out.GetLabels(), out.GetAnnotations()
	md, ok := in.Object["metadata"]
	if ok {
		out.Object["metadata"] = runtime.DeepCopyJSONValue(md)
	} else {
		delete(out.Object, "metadata")
	}
	out.SetLabels(labels)
	out.SetAnnotations(annotations)
	return out, nil
}
