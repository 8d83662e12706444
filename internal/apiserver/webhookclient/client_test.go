package webhookclient

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

func TestResolve(t *testing.T) {
	services := map[string]*corev1.Service{
		"ns/hook":     {ObjectMeta: metav1.ObjectMeta{Name: "hook", Namespace: "ns"}, Spec: corev1.ServiceSpec{ClusterIP: "10.43.0.7"}},
		"ns/headless": {ObjectMeta: metav1.ObjectMeta{Name: "headless", Namespace: "ns"}, Spec: corev1.ServiceSpec{ClusterIP: corev1.ClusterIPNone}},
	}
	lookup := func(ns, name string) (*corev1.Service, bool) {
		s, ok := services[ns+"/"+name]
		return s, ok
	}
	tests := []struct {
		name            string
		e               Endpoint
		wantURL, wantSN string
		wantErr         string
	}{
		{name: "url", e: Endpoint{URL: ptr.To("https://127.0.0.1:9443/convert?x=1")}, wantURL: "https://127.0.0.1:9443/convert?timeout=30s&x=1"},
		{name: "service, default port", e: Endpoint{Service: &ServiceRef{Namespace: "ns", Name: "hook"}}, wantURL: "https://10.43.0.7:443?timeout=30s", wantSN: "hook.ns.svc"},
		{name: "service, port and path", e: Endpoint{Service: &ServiceRef{Namespace: "ns", Name: "hook", Port: ptr.To[int32](9443), Path: ptr.To("/crdconvert")}},
			wantURL: "https://10.43.0.7:9443/crdconvert?timeout=30s", wantSN: "hook.ns.svc"},
		{name: "missing service", e: Endpoint{Service: &ServiceRef{Namespace: "ns", Name: "gone"}}, wantErr: `service "ns/gone" not found`},
		{name: "headless service", e: Endpoint{Service: &ServiceRef{Namespace: "ns", Name: "headless"}}, wantErr: `service "ns/headless" has no ClusterIP`},
		{name: "neither", e: Endpoint{}, wantErr: "webhook has neither url nor service"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u, sn, err := Resolve(tt.e, lookup, 30*time.Second)
			gotErr := ""
			if err != nil {
				gotErr = err.Error()
			}
			if diff := cmp.Diff([]string{tt.wantURL, tt.wantSN, tt.wantErr}, []string{u, sn, gotErr}); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}
