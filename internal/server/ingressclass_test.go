package server_test

import (
	"context"
	"testing"

	"github.com/google/go-cmp/cmp"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"skiff/internal/ingress"
	"skiff/internal/server/servertest"
)

// TestDefaultIngressClass runs Ingress creates through the server's
// admission chain: one with no class gets skiff's default IngressClass,
// one that names a class, or has the legacy annotation, keeps what it
// has; once no class is the default, a class-less Ingress stays so, and
// an update never adds a class.
func TestDefaultIngressClass(t *testing.T) {
	s := servertest.Start(t, nil)
	ctx := context.Background()
	ings := s.Client.NetworkingV1().Ingresses("default")
	newIngress := func(name string, class *string, annotations map[string]string) *networkingv1.Ingress {
		return &networkingv1.Ingress{
			ObjectMeta: metav1.ObjectMeta{Name: name, Annotations: annotations},
			Spec: networkingv1.IngressSpec{IngressClassName: class, DefaultBackend: &networkingv1.IngressBackend{
				Service: &networkingv1.IngressServiceBackend{Name: "web", Port: networkingv1.ServiceBackendPort{Number: 80}}}},
		}
	}
	tests := []struct {
		name        string
		class       *string
		annotations map[string]string
		want        *string
	}{
		{"no-class", nil, nil, ptr.To(ingress.ClassName)},
		{"named-class", ptr.To("other"), nil, ptr.To("other")},
		{"legacy-annotation", nil, map[string]string{ingress.LegacyClassAnnotation: "nginx"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			created, err := ings.Create(ctx, newIngress(tt.name, tt.class, tt.annotations), metav1.CreateOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, created.Spec.IngressClassName); diff != "" {
				t.Errorf("created spec.ingressClassName (-want +got):\n%s", diff)
			}
			stored, err := ings.Get(ctx, tt.name, metav1.GetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, stored.Spec.IngressClassName); diff != "" {
				t.Errorf("stored spec.ingressClassName (-want +got):\n%s", diff)
			}
		})
	}

	// No default class: skiff's class stops being the default.
	ic, err := s.Client.NetworkingV1().IngressClasses().Get(ctx, ingress.ClassName, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	delete(ic.Annotations, ingress.DefaultClassAnnotation)
	if _, err := s.Client.NetworkingV1().IngressClasses().Update(ctx, ic, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	// Admission reads classes from the server's cache; a dry run shows
	// when it has seen the change.
	servertest.Wait(t, "a class-less Ingress to stay class-less", func(ctx context.Context) (bool, error) {
		ing, err := ings.Create(ctx, newIngress("probe", nil, nil), metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
		return err == nil && ing.Spec.IngressClassName == nil, err
	})
	bare, err := ings.Create(ctx, newIngress("bare", nil, nil), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if bare.Spec.IngressClassName != nil {
		t.Fatalf("Ingress created with no default class: spec.ingressClassName %q, want none", *bare.Spec.IngressClassName)
	}

	// The default again: updates of the class-less Ingress leave it so.
	ic, err = s.Client.NetworkingV1().IngressClasses().Get(ctx, ingress.ClassName, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ic.Annotations = map[string]string{ingress.DefaultClassAnnotation: "true"}
	if _, err := s.Client.NetworkingV1().IngressClasses().Update(ctx, ic, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	servertest.Wait(t, "a class-less Ingress to get the default class again", func(ctx context.Context) (bool, error) {
		ing, err := ings.Create(ctx, newIngress("probe", nil, nil), metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
		return err == nil && cmp.Equal(ing.Spec.IngressClassName, ptr.To(ingress.ClassName)), err
	})
	bare.Labels = map[string]string{"touched": "yes"}
	updated, err := ings.Update(ctx, bare, metav1.UpdateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if updated.Spec.IngressClassName != nil {
		t.Errorf("updated class-less Ingress: spec.ingressClassName %q, want none", *updated.Spec.IngressClassName)
	}
}
