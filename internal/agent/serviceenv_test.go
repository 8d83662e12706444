package agent

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

func TestServiceEnv(t *testing.T) {
	svc := func(ns, name, ip string, ports ...corev1.ServicePort) *corev1.Service {
		return &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, Spec: corev1.ServiceSpec{ClusterIP: ip, Ports: ports}}
	}
	services := []*corev1.Service{
		svc("default", "kubernetes", "10.43.0.1", corev1.ServicePort{Name: "https", Port: 443, Protocol: corev1.ProtocolTCP}),
		svc("ns", "fooservice", "10.43.0.7",
			corev1.ServicePort{Port: 8765, Protocol: corev1.ProtocolTCP},
			corev1.ServicePort{Name: "dns-udp", Port: 53, Protocol: corev1.ProtocolUDP}),
		svc("ns", "headless", corev1.ClusterIPNone, corev1.ServicePort{Port: 80}),
		svc("other", "elsewhere", "10.43.0.9", corev1.ServicePort{Port: 80}),
	}
	master := map[string]string{
		"KUBERNETES_SERVICE_HOST":       "10.43.0.1",
		"KUBERNETES_SERVICE_PORT":       "443",
		"KUBERNETES_SERVICE_PORT_HTTPS": "443",
		"KUBERNETES_PORT":               "tcp://10.43.0.1:443",
		"KUBERNETES_PORT_443_TCP":       "tcp://10.43.0.1:443",
		"KUBERNETES_PORT_443_TCP_PROTO": "tcp",
		"KUBERNETES_PORT_443_TCP_PORT":  "443",
		"KUBERNETES_PORT_443_TCP_ADDR":  "10.43.0.1",
	}
	withFoo := map[string]string{
		"FOOSERVICE_SERVICE_HOST":         "10.43.0.7",
		"FOOSERVICE_SERVICE_PORT":         "8765",
		"FOOSERVICE_SERVICE_PORT_DNS_UDP": "53",
		"FOOSERVICE_PORT":                 "tcp://10.43.0.7:8765",
		"FOOSERVICE_PORT_8765_TCP":        "tcp://10.43.0.7:8765",
		"FOOSERVICE_PORT_8765_TCP_PROTO":  "tcp",
		"FOOSERVICE_PORT_8765_TCP_PORT":   "8765",
		"FOOSERVICE_PORT_8765_TCP_ADDR":   "10.43.0.7",
		"FOOSERVICE_PORT_53_UDP":          "udp://10.43.0.7:53",
		"FOOSERVICE_PORT_53_UDP_PROTO":    "udp",
		"FOOSERVICE_PORT_53_UDP_PORT":     "53",
		"FOOSERVICE_PORT_53_UDP_ADDR":     "10.43.0.7",
	}
	for k, v := range master {
		withFoo[k] = v
	}
	tests := []struct {
		name  string
		links *bool
		want  map[string]string
	}{
		{name: "service links on by default", want: withFoo},
		{name: "service links off: the API server's only", links: ptr.To(false), want: master},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "p"}, Spec: corev1.PodSpec{EnableServiceLinks: tt.links}}
			if diff := cmp.Diff(tt.want, serviceEnv(p, services)); diff != "" {
				t.Errorf("serviceEnv (-want +got):\n%s", diff)
			}
		})
	}
}

func TestResolveEnvWithServices(t *testing.T) {
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "p"}}
	c := &corev1.Container{Env: []corev1.EnvVar{
		{Name: "API", Value: "https://$(KUBERNETES_SERVICE_HOST):$(KUBERNETES_SERVICE_PORT)"},
		{Name: "KUBERNETES_SERVICE_PORT", Value: "mine"},
	}}
	services := []*corev1.Service{{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "kubernetes"},
		Spec: corev1.ServiceSpec{ClusterIP: "10.43.0.1", Ports: []corev1.ServicePort{{Port: 443}}}}}
	got, err := resolveEnv(p, c, envInput{Objects: podObjects{Services: services}})
	if err != nil {
		t.Fatal(err)
	}
	want := []corev1.EnvVar{
		{Name: "API", Value: "https://10.43.0.1:443"},
		{Name: "KUBERNETES_SERVICE_PORT", Value: "mine"},
		{Name: "KUBERNETES_PORT", Value: "tcp://10.43.0.1:443"},
		{Name: "KUBERNETES_PORT_443_TCP", Value: "tcp://10.43.0.1:443"},
		{Name: "KUBERNETES_PORT_443_TCP_ADDR", Value: "10.43.0.1"},
		{Name: "KUBERNETES_PORT_443_TCP_PORT", Value: "443"},
		{Name: "KUBERNETES_PORT_443_TCP_PROTO", Value: "tcp"},
		{Name: "KUBERNETES_SERVICE_HOST", Value: "10.43.0.1"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("resolveEnv (-want +got):\n%s", diff)
	}
}
