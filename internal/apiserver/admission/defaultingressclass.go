package admission

import (
	"context"

	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// defaultIngressClass is upstream's DefaultIngressClass plugin: a new
// Ingress that names no class (nil spec.ingressClassName and no legacy
// kubernetes.io/ingress.class annotation) gets the default IngressClass.
// When several classes are marked default it picks the newest, as
// upstream has since 1.25 (before, it refused the Ingress); with none the
// Ingress is left alone. Updates are never changed, so an Ingress created
// before a default existed keeps having no class.
type defaultIngressClass struct {
	objects Objects
}

var _ Mutator = defaultIngressClass{}

var (
	ingressClassesGVR = schema.GroupVersionResource{Group: networkingv1.GroupName, Version: "v1", Resource: "ingressclasses"}
	ingressesGR       = schema.GroupResource{Group: networkingv1.GroupName, Resource: "ingresses"}
)

// Annotations of ingress classes and Ingresses, as upstream spells them.
const (
	annDefaultIngressClass = "ingressclass.kubernetes.io/is-default-class"
	annLegacyIngressClass  = "kubernetes.io/ingress.class"
)

func (defaultIngressClass) Name() string { return "DefaultIngressClass" }

func (defaultIngressClass) Handles(op Operation) bool { return op == Create }

func (p defaultIngressClass) Admit(_ context.Context, a *Attributes) error {
	if a.Resource.GroupResource() != ingressesGR || a.SubResource != "" {
		return nil
	}
	ing, ok := a.Object.(*networkingv1.Ingress)
	if !ok {
		return nil
	}
	if _, ok := ing.Annotations[annLegacyIngressClass]; ok || ing.Spec.IngressClassName != nil {
		return nil
	}
	var defs []metav1.Object
	for _, o := range p.objects.List(ingressClassesGVR, "") {
		if ic, ok := o.(*networkingv1.IngressClass); ok && ic.Annotations[annDefaultIngressClass] == "true" {
			defs = append(defs, ic)
		}
	}
	if def := newest(defs); def != "" {
		ing.Spec.IngressClassName = &def
	}
	return nil
}
