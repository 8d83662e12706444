package ingress

import (
	networkingv1 "k8s.io/api/networking/v1"
)

// ControllerName is the spec.controller of the IngressClasses skiff's
// ingress controller serves.
const ControllerName = "skiff.dev/ingress"

// ClassName is the IngressClass the server creates for the built-in
// controller.
const ClassName = "skiff"

// Annotations that select an Ingress's class.
const (
	// DefaultClassAnnotation marks the IngressClass that Ingresses with
	// no class belong to.
	DefaultClassAnnotation = "ingressclass.kubernetes.io/is-default-class"
	// LegacyClassAnnotation is the class annotation that predates
	// spec.ingressClassName; it names an IngressClass.
	LegacyClassAnnotation = "kubernetes.io/ingress.class"
)

// Classes is the set of IngressClasses a controller serves.
type Classes struct {
	// names of the classes whose spec.controller is the controller's.
	names map[string]bool
	// dflt: one of them is the cluster's default class.
	dflt bool
}

// SelectClasses returns the classes among all whose spec.controller is
// controller.
func SelectClasses(controller string, all []*networkingv1.IngressClass) Classes {
	c := Classes{names: map[string]bool{}}
	for _, ic := range all {
		if ic.Spec.Controller != controller {
			continue
		}
		c.names[ic.Name] = true
		if ic.Annotations[DefaultClassAnnotation] == "true" {
			c.dflt = true
		}
	}
	return c
}

// Serves reports whether an Ingress belongs to one of the classes: its
// legacy class annotation or spec.ingressClassName names one, or it has
// neither and one of the classes is the default.
func (c Classes) Serves(ing *networkingv1.Ingress) bool {
	if name, ok := ing.Annotations[LegacyClassAnnotation]; ok {
		return c.names[name]
	}
	if ing.Spec.IngressClassName != nil {
		return c.names[*ing.Spec.IngressClassName]
	}
	return c.dflt
}

// DefaultClass is the IngressClass the server creates when it is
// missing: skiff's controller, the default class.
func DefaultClass() *networkingv1.IngressClass {
	ic := &networkingv1.IngressClass{Spec: networkingv1.IngressClassSpec{Controller: ControllerName}}
	ic.Name = ClassName
	ic.Annotations = map[string]string{DefaultClassAnnotation: "true"}
	return ic
}
