package admission

import (
	"context"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// ingressClasses serves IngressClasses to DefaultIngressClass.
type ingressClasses []*networkingv1.IngressClass

func (c ingressClasses) List(gvr schema.GroupVersionResource, _ string) []runtime.Object {
	var out []runtime.Object
	if gvr == ingressClassesGVR {
		for _, ic := range c {
			out = append(out, ic)
		}
	}
	return out
}

func (ingressClasses) Get(schema.GroupVersionResource, string, string) (runtime.Object, bool) {
	return nil, false
}

func (ingressClasses) ResourceFor(schema.GroupVersionKind) (schema.GroupVersionResource, bool, bool) {
	return schema.GroupVersionResource{}, false, false
}

func ingressClass(name string, created time.Time, isDefault string) *networkingv1.IngressClass {
	ic := &networkingv1.IngressClass{ObjectMeta: metav1.ObjectMeta{Name: name, CreationTimestamp: metav1.NewTime(created)},
		Spec: networkingv1.IngressClassSpec{Controller: "example.com/" + name}}
	if isDefault != "" {
		ic.Annotations = map[string]string{annDefaultIngressClass: isDefault}
	}
	return ic
}

func TestDefaultIngressClass(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	str := func(s string) *string { return &s }
	ingressesGVR := ingressesGR.WithVersion("v1")
	tests := []struct {
		name     string
		classes  ingressClasses
		class    *string
		legacy   bool   // the Ingress has the kubernetes.io/ingress.class annotation
		resource string // "" is ingresses
		sub      string
		want     *string
	}{
		{name: "no classes", want: nil},
		{name: "no default", classes: ingressClasses{ingressClass("a", t0, ""), ingressClass("b", t0, "false")}, want: nil},
		{name: "one default", classes: ingressClasses{ingressClass("a", t0, ""), ingressClass("skiff", t0, "true")}, want: str("skiff")},
		{name: "newest of several defaults",
			classes: ingressClasses{ingressClass("old", t0, "true"), ingressClass("new", t0.Add(time.Hour), "true"), ingressClass("plain", t0.Add(2*time.Hour), "")},
			want:    str("new")},
		{name: "same age: first by name", classes: ingressClasses{ingressClass("zz", t0, "true"), ingressClass("aa", t0, "true")}, want: str("aa")},
		{name: "class kept", classes: ingressClasses{ingressClass("skiff", t0, "true")}, class: str("other"), want: str("other")},
		{name: "legacy annotation counts as a class", classes: ingressClasses{ingressClass("skiff", t0, "true")}, legacy: true, want: nil},
		{name: "status subresource untouched", classes: ingressClasses{ingressClass("skiff", t0, "true")}, sub: "status", want: nil},
		{name: "other group's ingresses untouched", classes: ingressClasses{ingressClass("skiff", t0, "true")}, resource: "other", want: nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ing := &networkingv1.Ingress{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "web"}, Spec: networkingv1.IngressSpec{IngressClassName: tt.class}}
			if tt.legacy {
				ing.Annotations = map[string]string{annLegacyIngressClass: "nginx"}
			}
			gvr := ingressesGVR
			if tt.resource != "" {
				gvr.Group = tt.resource
			}
			a := &Attributes{Resource: gvr, SubResource: tt.sub, Namespace: "ns", Name: "web", Operation: Create, Object: ing}
			if err := (defaultIngressClass{objects: tt.classes}).Admit(context.Background(), a); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, ing.Spec.IngressClassName); diff != "" {
				t.Errorf("class (-want +got):\n%s", diff)
			}
		})
	}
	for _, op := range []Operation{Update, Delete, Connect} {
		if (defaultIngressClass{}).Handles(op) {
			t.Errorf("DefaultIngressClass handles %s; it acts on creates only", op)
		}
	}
}
