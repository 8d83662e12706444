package networking

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"skiff/internal/apiserver/registry"
)

func res(t *testing.T, name string) registry.Resource {
	t.Helper()
	for _, r := range Resources() {
		if r.Resource == name {
			return r
		}
	}
	t.Fatalf("no resource %q", name)
	return registry.Resource{}
}

func ingress(pathType *networkingv1.PathType, path string) *networkingv1.Ingress {
	return &networkingv1.Ingress{Spec: networkingv1.IngressSpec{Rules: []networkingv1.IngressRule{{
		Host: "example.com",
		IngressRuleValue: networkingv1.IngressRuleValue{HTTP: &networkingv1.HTTPIngressRuleValue{Paths: []networkingv1.HTTPIngressPath{{
			Path: path, PathType: pathType,
			Backend: networkingv1.IngressBackend{Service: &networkingv1.IngressServiceBackend{Name: "web", Port: networkingv1.ServiceBackendPort{Number: 80}}},
		}}}},
	}}}}
}

func TestValidate(t *testing.T) {
	prefix := networkingv1.PathTypePrefix
	tests := []struct {
		name     string
		resource string
		obj      runtime.Object
		want     []string
	}{
		{"valid ingress", "ingresses", ingress(&prefix, "/"), nil},
		{"pathType missing", "ingresses", ingress(nil, "/"), []string{"spec.rules[0].http.paths[0].pathType: Required value: pathType must be specified"}},
		{"relative path", "ingresses", ingress(&prefix, "api"), []string{`spec.rules[0].http.paths[0].path: Invalid value: "api": must be an absolute path`}},
		{"no rules", "ingresses", &networkingv1.Ingress{}, []string{"spec: Invalid value: null: either `defaultBackend` or `rules` must be specified"}},
		{"ingress class without controller", "ingressclasses", &networkingv1.IngressClass{}, []string{"spec.controller: Required value"}},
		{"servicecidr with two IPv4", "servicecidrs", &networkingv1.ServiceCIDR{Spec: networkingv1.ServiceCIDRSpec{CIDRs: []string{"10.0.0.0/16", "10.1.0.0/16"}}},
			[]string{`spec.cidrs: Invalid value: ["10.0.0.0/16","10.1.0.0/16"]: may specify no more than one IP for each IP family, i.e 192.168.0.0/24 and 2001:db8::/64`}},
		{"ipaddress without parent", "ipaddresses", &networkingv1.IPAddress{}, []string{"spec.parentRef: Required value"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			for _, e := range res(t, tt.resource).Strategy.Validate(tt.obj) {
				got = append(got, e.Error())
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("errors (-want +got):\n%s", diff)
			}
		})
	}
}

func TestNetworkPolicyDefaults(t *testing.T) {
	np := &networkingv1.NetworkPolicy{Spec: networkingv1.NetworkPolicySpec{
		Egress: []networkingv1.NetworkPolicyEgressRule{{Ports: []networkingv1.NetworkPolicyPort{{}}}},
	}}
	s := res(t, "networkpolicies").Strategy
	s.Default(np)
	if diff := cmp.Diff([]networkingv1.PolicyType{networkingv1.PolicyTypeIngress, networkingv1.PolicyTypeEgress}, np.Spec.PolicyTypes); diff != "" {
		t.Errorf("policyTypes (-want +got):\n%s", diff)
	}
	if *np.Spec.Egress[0].Ports[0].Protocol != corev1.ProtocolTCP {
		t.Errorf("port protocol not defaulted")
	}
	if diff := cmp.Diff([]interface{}{"<none>", "<unknown>"}, s.TableRow(np)); diff != "" {
		t.Errorf("row (-want +got):\n%s", diff)
	}
}

func TestTables(t *testing.T) {
	class := "nginx"
	ing := ingress(nil, "/")
	ing.Spec.IngressClassName = &class
	ing.Spec.TLS = []networkingv1.IngressTLS{{Hosts: []string{"example.com"}}}
	ing.Status.LoadBalancer.Ingress = []networkingv1.IngressLoadBalancerIngress{{IP: "192.168.10.200"}, {IP: "192.168.10.201"}}
	ic := &networkingv1.IngressClass{Spec: networkingv1.IngressClassSpec{Controller: "k8s.io/ingress-nginx",
		Parameters: &networkingv1.IngressClassParametersReference{APIGroup: &class, Kind: "Params", Name: "p"}}}
	ip := &networkingv1.IPAddress{ObjectMeta: metav1.ObjectMeta{Name: "10.43.0.1"},
		Spec: networkingv1.IPAddressSpec{ParentRef: &networkingv1.ParentReference{Resource: "services", Namespace: "default", Name: "kubernetes"}}}
	tests := []struct {
		resource string
		obj      runtime.Object
		want     []interface{}
	}{
		{"ingresses", ing, []interface{}{"nginx", "example.com", "192.168.10.20...", "80, 443", "<unknown>"}},
		{"ingressclasses", ic, []interface{}{"k8s.io/ingress-nginx", "Params.nginx/p", "<unknown>"}},
		{"ipaddresses", ip, []interface{}{"services/default/kubernetes", "<unknown>"}},
	}
	for _, tt := range tests {
		t.Run(tt.resource, func(t *testing.T) {
			s := res(t, tt.resource).Strategy
			got := s.TableRow(tt.obj)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("row (-want +got):\n%s", diff)
			}
			if len(got) != len(s.TableColumns) {
				t.Errorf("%d cells for %d columns", len(got), len(s.TableColumns))
			}
		})
	}
	if msgs := res(t, "ipaddresses").Strategy.NameValidation("2001:db8:0::1", false); len(msgs) != 1 {
		t.Errorf("non-canonical IP name accepted")
	}
}
