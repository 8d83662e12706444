package apiserver

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// webhookConversion returns the conversion webhook of crd, or nil when it
// converts the None way.
func webhookConversion(crd *apiextensionsv1.CustomResourceDefinition) *apiextensionsv1.WebhookConversion {
	c := crd.Spec.Conversion
	if c == nil || c.Strategy != apiextensionsv1.WebhookConverter || c.Webhook == nil {
		return nil
	}
	return c.Webhook.DeepCopy()
}

// lookupService finds a conversion webhook's Service in the watch cache.
func (s *Server) lookupService(namespace, name string) (*corev1.Service, bool) {
	o, ok := cacheObjects{s}.Get(corev1.SchemeGroupVersion.WithResource("services"), namespace, name)
	svc, _ := o.(*corev1.Service)
	return svc, ok && svc != nil
}

// convertCustom brings custom objects to gv through the CRD's conversion
// webhook, in one review; objects at gv already are returned as they are.
// Without a webhook (None conversion) it returns objs.
func (r *resource) convertCustom(ctx context.Context, objs []runtime.Object, gv schema.GroupVersion) ([]runtime.Object, error) {
	if r.custom == nil || r.custom.webhook == nil || r.custom.converter == nil {
		return objs, nil
	}
	need := false
	in := make([]*unstructured.Unstructured, len(objs))
	for i, o := range objs {
		u, ok := o.(*unstructured.Unstructured)
		if !ok {
			return nil, fmt.Errorf("convert %T: unstructured objects only", o)
		}
		in[i] = u
		need = need || u.GetAPIVersion() != gv.String()
	}
	if !need {
		return objs, nil
	}
	conv, err := r.custom.converter.Convert(ctx, r.custom.webhook, in, gv)
	if err != nil {
		return nil, err
	}
	out := make([]runtime.Object, len(conv))
	for i, u := range conv {
		out[i] = u
	}
	return out, nil
}

// fromStorageAll converts stored objects to the served version, with one
// conversion review for all that need the webhook.
func (r *resource) fromStorageAll(ctx context.Context, objs []runtime.Object) ([]runtime.Object, error) {
	conv, err := r.convertCustom(ctx, objs, r.GroupVersion)
	if err != nil {
		return nil, err
	}
	out := make([]runtime.Object, len(conv))
	for i, o := range conv {
		if out[i], err = r.fromStorageNone(o); err != nil {
			return nil, err
		}
	}
	return out, nil
}
