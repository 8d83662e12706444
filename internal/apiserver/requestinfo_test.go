package apiserver

import (
	"net/http/httptest"
	"testing"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/selection"
)

func TestParseRequestInfo(t *testing.T) {
	tests := []struct {
		method, url string
		want        requestInfo
	}{
		{"GET", "/api/v1/pods", requestInfo{isResource: true, apiPrefix: "api", version: "v1", resource: "pods", verb: "list"}},
		{"GET", "/api/v1/pods?watch=true", requestInfo{isResource: true, apiPrefix: "api", version: "v1", resource: "pods", verb: "watch"}},
		{"GET", "/api/v1/namespaces/ns1/pods/p1", requestInfo{isResource: true, apiPrefix: "api", version: "v1", namespace: "ns1", resource: "pods", name: "p1", verb: "get"}},
		{"POST", "/api/v1/namespaces/ns1/pods/p1/binding", requestInfo{isResource: true, apiPrefix: "api", version: "v1", namespace: "ns1", resource: "pods", name: "p1", subresource: "binding", verb: "create"}},
		{"GET", "/api/v1/namespaces/ns1", requestInfo{isResource: true, apiPrefix: "api", version: "v1", resource: "namespaces", name: "ns1", verb: "get"}},
		{"PUT", "/api/v1/namespaces/ns1/finalize", requestInfo{isResource: true, apiPrefix: "api", version: "v1", resource: "namespaces", name: "ns1", subresource: "finalize", verb: "update"}},
		{"PATCH", "/api/v1/namespaces/ns1/status", requestInfo{isResource: true, apiPrefix: "api", version: "v1", resource: "namespaces", name: "ns1", subresource: "status", verb: "patch"}},
		{"GET", "/api/v1/namespaces", requestInfo{isResource: true, apiPrefix: "api", version: "v1", resource: "namespaces", verb: "list"}},
		{"DELETE", "/apis/apps/v1/namespaces/ns1/deployments", requestInfo{isResource: true, apiPrefix: "apis", group: "apps", version: "v1", namespace: "ns1", resource: "deployments", verb: "deletecollection"}},
		{"DELETE", "/apis/apps/v1/namespaces/ns1/deployments/d", requestInfo{isResource: true, apiPrefix: "apis", group: "apps", version: "v1", namespace: "ns1", resource: "deployments", name: "d", verb: "delete"}},
		{"GET", "/apis/apps/v1/watch/namespaces/ns1/deployments", requestInfo{isResource: true, apiPrefix: "apis", group: "apps", version: "v1", namespace: "ns1", resource: "deployments", verb: "watch"}},
		{"GET", "/api/v1/namespaces/ns1/pods/p1/proxy/a/b", requestInfo{isResource: true, apiPrefix: "api", version: "v1", namespace: "ns1", resource: "pods", name: "p1", subresource: "proxy", rest: []string{"a", "b"}, verb: "get"}},
		{"GET", "/api/v1/namespaces/kube-system/configmaps?fieldSelector=metadata.name%3Dextension-apiserver-authentication",
			requestInfo{isResource: true, apiPrefix: "api", version: "v1", namespace: "kube-system", resource: "configmaps", verb: "list", selectedName: "extension-apiserver-authentication",
				fields: fields.Requirements{{Field: "metadata.name", Operator: selection.Equals, Value: "extension-apiserver-authentication"}}}},
		{"GET", "/api/v1/namespaces/ns1/configmaps?watch=1&fieldSelector=metadata.name%3Dc1",
			requestInfo{isResource: true, apiPrefix: "api", version: "v1", namespace: "ns1", resource: "configmaps", verb: "watch", selectedName: "c1",
				fields: fields.Requirements{{Field: "metadata.name", Operator: selection.Equals, Value: "c1"}}}},
		{"GET", "/api/v1/namespaces/ns1/configmaps?fieldSelector=metadata.name!%3Dc1",
			requestInfo{isResource: true, apiPrefix: "api", version: "v1", namespace: "ns1", resource: "configmaps", verb: "list",
				fields: fields.Requirements{{Field: "metadata.name", Operator: selection.NotEquals, Value: "c1"}}}},
		{"GET", "/api/v1/pods?watch=true&fieldSelector=spec.nodeName%3Dn1",
			requestInfo{isResource: true, apiPrefix: "api", version: "v1", resource: "pods", verb: "watch",
				fields: fields.Requirements{{Field: "spec.nodeName", Operator: selection.Equals, Value: "n1"}}}},
		{"DELETE", "/api/v1/namespaces/ns1/configmaps?fieldSelector=metadata.name%3Dc1",
			requestInfo{isResource: true, apiPrefix: "api", version: "v1", namespace: "ns1", resource: "configmaps", verb: "deletecollection"}},
		{"GET", "/apis/apps/v1", requestInfo{}},
		{"GET", "/healthz", requestInfo{}},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.url, func(t *testing.T) {
			got := parseRequestInfo(httptest.NewRequest(tt.method, tt.url, nil))
			if diff := cmp.Diff(tt.want, got, cmp.AllowUnexported(requestInfo{})); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestNegotiate(t *testing.T) {
	tests := []struct {
		accept string
		want   target
		ok     bool
	}{
		{"", target{media: mediaJSON}, true},
		{"application/json", target{media: mediaJSON}, true},
		{"application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json", target{media: mediaJSON, as: "Table"}, true},
		{"application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json", target{media: mediaJSON}, true},
		{"application/vnd.kubernetes.protobuf,application/json", target{media: mediaProtobuf}, true},
		{"application/yaml", target{media: mediaYAML}, true},
		{"application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json", target{media: mediaJSON}, true},
		{"*/*", target{media: mediaJSON}, true},
		{"text/html", target{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.accept, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/api/v1/pods", nil)
			r.Header.Set("Accept", tt.accept)
			got, ok := negotiate(r)
			if ok != tt.ok {
				t.Fatalf("ok = %v, want %v", ok, tt.ok)
			}
			if diff := cmp.Diff(tt.want, got, cmp.AllowUnexported(target{})); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestVersionLess(t *testing.T) {
	order := []string{"v1alpha1", "v1alpha2", "v1beta1", "v2beta1", "v1", "v2"}
	for i := 0; i < len(order)-1; i++ {
		if !versionLess(order[i], order[i+1]) || versionLess(order[i+1], order[i]) {
			t.Errorf("%s should sort before %s", order[i], order[i+1])
		}
	}
}
