package ingress

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

var epoch = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// svc is a Service "name" in default with one TCP port 80 named "http",
// and its EndpointSlice with one ready endpoint ip:8080.
func svc(name, ip string) (*corev1.Service, *discoveryv1.EndpointSlice) {
	s := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default"},
		Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Name: "http", Port: 80, Protocol: corev1.ProtocolTCP}}}}
	es := &discoveryv1.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Name: name + "-x", Namespace: "default", Labels: map[string]string{discoveryv1.LabelServiceName: name}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Ports:       []discoveryv1.EndpointPort{{Name: ptr.To("http"), Port: ptr.To[int32](8080), Protocol: ptr.To(corev1.ProtocolTCP)}},
		Endpoints:   []discoveryv1.Endpoint{{Addresses: []string{ip}, Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(true)}}},
	}
	return s, es
}

type path struct {
	host, path string
	typ        networkingv1.PathType
	svc        string
}

// ing is an Ingress created age minutes after epoch with the given paths.
func ing(name string, age int, paths ...path) *networkingv1.Ingress {
	in := &networkingv1.Ingress{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default",
		CreationTimestamp: metav1.NewTime(epoch.Add(time.Duration(age) * time.Minute))}}
	for _, p := range paths {
		in.Spec.Rules = append(in.Spec.Rules, networkingv1.IngressRule{Host: p.host,
			IngressRuleValue: networkingv1.IngressRuleValue{HTTP: &networkingv1.HTTPIngressRuleValue{
				Paths: []networkingv1.HTTPIngressPath{{Path: p.path, PathType: ptr.To(p.typ), Backend: backend(p.svc)}}}}})
	}
	return in
}

func backend(name string) networkingv1.IngressBackend {
	return networkingv1.IngressBackend{Service: &networkingv1.IngressServiceBackend{Name: name,
		Port: networkingv1.ServiceBackendPort{Number: 80}}}
}

func class(name, controller string, dflt bool) *networkingv1.IngressClass {
	ic := &networkingv1.IngressClass{ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: networkingv1.IngressClassSpec{Controller: controller}}
	if dflt {
		ic.Annotations = map[string]string{DefaultClassAnnotation: "true"}
	}
	return ic
}

const (
	exact  = networkingv1.PathTypeExact
	prefix = networkingv1.PathTypePrefix
	impl   = networkingv1.PathTypeImplementationSpecific
)

func TestRoute(t *testing.T) {
	var services []*corev1.Service
	var slices []*discoveryv1.EndpointSlice
	for name, ip := range map[string]string{"a": "10.42.0.1", "b": "10.42.0.2", "c": "10.42.0.3", "d": "10.42.0.4", "dflt": "10.42.0.9"} {
		s, es := svc(name, ip)
		services, slices = append(services, s), append(slices, es)
	}
	withDefault := ing("default", 5)
	withDefault.Spec.DefaultBackend = ptr.To(backend("dflt"))
	state := State{
		Classes:        []*networkingv1.IngressClass{class("skiff", ControllerName, true)},
		Services:       services,
		EndpointSlices: slices,
		Ingresses: []*networkingv1.Ingress{
			ing("one", 1,
				path{"foo.com", "/", prefix, "a"},
				path{"foo.com", "/api", prefix, "b"},
				path{"foo.com", "/api", exact, "c"},
				path{"foo.com", "/api/v2/", impl, "d"},
				path{"*.foo.com", "/", prefix, "c"},
				path{"", "/any", prefix, "d"},
			),
			// Younger, so its foo.com "/" loses to one's; its other
			// paths merge in.
			ing("two", 2,
				path{"foo.com", "/", prefix, "d"},
				path{"foo.com", "/exact", exact, "d"},
				path{"bar.com", "/", prefix, "b"},
			),
			withDefault,
		},
	}
	tbl := Build(state)
	tests := []struct {
		host, path string
		want       string // the endpoint; "" for no route
	}{
		{"foo.com", "/", "10.42.0.1:8080"},
		{"FOO.com.", "/x", "10.42.0.1:8080"},
		{"foo.com", "/api", "10.42.0.3:8080"},  // Exact before Prefix
		{"foo.com", "/api/", "10.42.0.2:8080"}, // the Exact is not matched
		{"foo.com", "/api/x", "10.42.0.2:8080"},
		{"foo.com", "/apix", "10.42.0.1:8080"}, // element-wise
		{"foo.com", "/api/v2", "10.42.0.4:8080"},
		{"foo.com", "/api/v2/z", "10.42.0.4:8080"},
		{"foo.com", "/exact", "10.42.0.4:8080"},
		{"foo.com", "/exact/", "10.42.0.1:8080"},
		{"x.foo.com", "/", "10.42.0.3:8080"},          // wildcard
		{"y.x.foo.com", "/", "10.42.0.9:8080"},        // a wildcard is one label
		{"x.foo.com", "/any/thing", "10.42.0.3:8080"}, // the host's routes first
		{"bar.com", "/q", "10.42.0.2:8080"},
		{"other.com", "/any", "10.42.0.4:8080"}, // no host: any host
		{"other.com", "/", "10.42.0.9:8080"},    // default backend
	}
	for _, tt := range tests {
		t.Run(tt.host+tt.path, func(t *testing.T) {
			b, ok := tbl.Route(tt.host, tt.path)
			got := ""
			if ok {
				got = b.Pick()
			}
			if got != tt.want {
				t.Errorf("Route(%q, %q) = %q; want %q", tt.host, tt.path, got, tt.want)
			}
		})
	}

	// With no default backend, no match is no route.
	state.Ingresses = state.Ingresses[:2]
	if b, ok := Build(state).Route("other.com", "/"); ok {
		t.Errorf("Route with no default backend = %v; want none", b.Name)
	}
}

func TestClasses(t *testing.T) {
	ours := class("skiff", ControllerName, true)
	oursNotDefault := class("skiff", ControllerName, false)
	other := class("nginx", "k8s.io/ingress-nginx", false)
	otherDefault := class("nginx", "k8s.io/ingress-nginx", true)
	named := func(name string) *networkingv1.Ingress {
		in := ing("x", 0)
		in.Spec.IngressClassName = ptr.To(name)
		return in
	}
	legacy := func(name string) *networkingv1.Ingress {
		in := ing("x", 0)
		in.Annotations = map[string]string{LegacyClassAnnotation: name}
		return in
	}
	tests := []struct {
		name    string
		classes []*networkingv1.IngressClass
		ing     *networkingv1.Ingress
		want    bool
	}{
		{"our class", []*networkingv1.IngressClass{ours, other}, named("skiff"), true},
		{"another class", []*networkingv1.IngressClass{ours, other}, named("nginx"), false},
		{"a missing class", []*networkingv1.IngressClass{other}, named("skiff"), false},
		{"no class, ours default", []*networkingv1.IngressClass{ours, other}, ing("x", 0), true},
		{"no class, ours not default", []*networkingv1.IngressClass{oursNotDefault, otherDefault}, ing("x", 0), false},
		{"legacy annotation, ours", []*networkingv1.IngressClass{oursNotDefault}, legacy("skiff"), true},
		{"legacy annotation, other", []*networkingv1.IngressClass{ours, other}, legacy("nginx"), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := SelectClasses(ControllerName, tt.classes).Serves(tt.ing); got != tt.want {
				t.Errorf("Serves = %v; want %v", got, tt.want)
			}
		})
	}
}

func TestBackends(t *testing.T) {
	a, aes := svc("a", "10.42.0.1")
	aes.Endpoints = append(aes.Endpoints,
		discoveryv1.Endpoint{Addresses: []string{"10.42.0.2"}, Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(false)}},
		discoveryv1.Endpoint{Addresses: []string{"10.42.0.3"}})
	empty, _ := svc("empty", "")
	byName := ing("byname", 0, path{"n.com", "/", prefix, "a"})
	byName.Spec.Rules[0].HTTP.Paths[0].Backend.Service.Port = networkingv1.ServiceBackendPort{Name: "http"}
	ext := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "ext", Namespace: "default"},
		Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeExternalName, ExternalName: "example.internal",
			Ports: []corev1.ServicePort{{Port: 80}}}}
	tbl := Build(State{
		Classes:        []*networkingv1.IngressClass{class("skiff", ControllerName, true)},
		Services:       []*corev1.Service{a, empty, ext},
		EndpointSlices: []*discoveryv1.EndpointSlice{aes},
		Ingresses: []*networkingv1.Ingress{
			ing("num", 0, path{"a.com", "/", prefix, "a"}, path{"e.com", "/", prefix, "empty"},
				path{"m.com", "/", prefix, "missing"}, path{"x.com", "/", prefix, "ext"}),
			byName,
		},
	})
	addrs := func(host string) []string {
		b, ok := tbl.Route(host, "/")
		if !ok {
			t.Fatalf("no route for %s", host)
		}
		return b.Addrs
	}
	if diff := cmp.Diff([]string{"10.42.0.1:8080", "10.42.0.3:8080"}, addrs("a.com")); diff != "" {
		t.Errorf("ready endpoints (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(addrs("a.com"), addrs("n.com")); diff != "" {
		t.Errorf("port by name (-by number +by name):\n%s", diff)
	}
	for _, h := range []string{"e.com", "m.com"} {
		if got := addrs(h); len(got) != 0 {
			t.Errorf("%s endpoints = %v; want none", h, got)
		}
	}
	if diff := cmp.Diff([]string{"example.internal:80"}, addrs("x.com")); diff != "" {
		t.Errorf("ExternalName (-want +got):\n%s", diff)
	}
	// Round robin.
	b, _ := tbl.Route("a.com", "/")
	var got []string
	for range 4 {
		got = append(got, b.Pick())
	}
	if diff := cmp.Diff([]string{"10.42.0.1:8080", "10.42.0.3:8080", "10.42.0.1:8080", "10.42.0.3:8080"}, got); diff != "" {
		t.Errorf("round robin (-want +got):\n%s", diff)
	}
}

func TestCertificates(t *testing.T) {
	cert, key := testCert(t, "tls.com")
	sec := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "tls", Namespace: "default"}, Type: corev1.SecretTypeTLS,
		Data: map[string][]byte{corev1.TLSCertKey: cert, corev1.TLSPrivateKeyKey: key}}
	in := ing("tls", 0)
	in.Spec.TLS = []networkingv1.IngressTLS{{Hosts: []string{"tls.com", "*.wild.com"}, SecretName: "tls"},
		{Hosts: []string{"broken.com"}, SecretName: "missing"}}
	tbl := Build(State{Classes: []*networkingv1.IngressClass{class("skiff", ControllerName, true)},
		Ingresses: []*networkingv1.Ingress{in}, Secrets: []*corev1.Secret{sec}})
	for name, want := range map[string]bool{"tls.com": true, "TLS.com": true, "a.wild.com": true, "a.b.wild.com": false,
		"wild.com": false, "broken.com": false, "": false} {
		if got := tbl.Certificate(name) != nil; got != want {
			t.Errorf("Certificate(%q) found = %v; want %v", name, got, want)
		}
	}

	// With a cache, a certificate is parsed once per resourceVersion and
	// forgotten with its Secret.
	sec.ResourceVersion = "1"
	st := State{Classes: []*networkingv1.IngressClass{class("skiff", ControllerName, true)},
		Ingresses: []*networkingv1.Ingress{in}, Secrets: []*corev1.Secret{sec}, Certs: NewCertCache()}
	first := Build(st).Certificate("tls.com")
	if again := Build(st).Certificate("tls.com"); again != first || first == nil {
		t.Errorf("the same Secret parsed again: %p, then %p", first, again)
	}
	changed := sec.DeepCopy()
	changed.ResourceVersion = "2"
	st.Secrets = []*corev1.Secret{changed}
	if got := Build(st).Certificate("tls.com"); got == first || got == nil {
		t.Errorf("a changed Secret kept its old certificate")
	}
	st.Secrets = nil
	if got := Build(st).Certificate("tls.com"); got != nil || len(st.Certs.m) != 0 {
		t.Errorf("a deleted Secret: certificate %v, cache %v; want none", got, st.Certs.m)
	}
}
