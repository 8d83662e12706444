package openapi

import (
	"encoding/json"
	"net/http"

	"github.com/google/go-cmp/cmp"
	"net/http/httptest"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/cli-runtime/pkg/resource"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/openapi3"
	"k8s.io/client-go/rest"
	"k8s.io/kube-openapi/pkg/common"
	"k8s.io/kube-openapi/pkg/handler3"
	"k8s.io/kube-openapi/pkg/validation/spec"

	"skiff/internal/apiserver/registry"
)

func serve(t *testing.T, s *Spec) *rest.Config {
	t.Helper()
	srv := httptest.NewServer(s.Handler())
	t.Cleanup(srv.Close)
	return &rest.Config{Host: srv.URL}
}

// TestClients fetches the documents with the clients kubectl uses.
func TestClients(t *testing.T) {
	s := newTestSpec(t)
	cfg := serve(t, s)
	dc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}

	// v2, as protobuf: what kubectl's client-side validation used to read.
	v2, err := dc.OpenAPISchema()
	if err != nil {
		t.Fatalf("OpenAPISchema: %v", err)
	}
	found := false
	for _, d := range v2.GetDefinitions().GetAdditionalProperties() {
		found = found || d.GetName() == "io.k8s.api.apps.v1.Deployment"
	}
	if !found {
		t.Error("v2 protobuf lacks io.k8s.api.apps.v1.Deployment")
	}

	// v3: the index, then one group version.
	root := openapi3.NewRoot(dc.OpenAPIV3())
	gvs, err := root.GroupVersions()
	if err != nil {
		t.Fatalf("GroupVersions: %v", err)
	}
	want := map[schema.GroupVersion]bool{
		{Version: "v1"}: true, appsv1.SchemeGroupVersion: true,
		{Group: "rbac.authorization.k8s.io", Version: "v1"}: true,
		{Group: "authentication.k8s.io", Version: "v1"}:     true,
	}
	got := map[schema.GroupVersion]bool{}
	for _, gv := range gvs {
		got[gv] = true
	}
	for gv := range want {
		if !got[gv] {
			t.Errorf("v3 index lacks %s (has %v)", gv, gvs)
		}
	}
	doc, err := root.GVSpec(appsv1.SchemeGroupVersion)
	if err != nil {
		t.Fatalf("GVSpec: %v", err)
	}
	if _, ok := doc.Paths.Paths["/apis/apps/v1/namespaces/{namespace}/deployments/{name}"]; !ok {
		t.Error("apps/v1 document lacks the deployment item path")
	}

	// kubectl apply asks this before sending fieldValidation.
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	v := resource.NewQueryParamVerifierV3(dyn, dc.OpenAPIV3(), resource.QueryParamFieldValidation)
	if err := v.HasSupport(appsv1.SchemeGroupVersion.WithKind("Deployment")); err != nil {
		t.Errorf("fieldValidation for Deployment: %v", err)
	}
	if err := v.HasSupport(schema.GroupVersionKind{Version: "v1", Kind: "Pod"}); err != nil {
		t.Errorf("fieldValidation for Pod: %v", err)
	}
}

func TestHTTP(t *testing.T) {
	s := newTestSpec(t)
	srv := httptest.NewServer(s.Handler())
	defer srv.Close()

	get := func(path, accept, etag string) *http.Response {
		t.Helper()
		req, _ := http.NewRequest("GET", srv.URL+path, nil)
		if accept != "" {
			req.Header.Set("Accept", accept)
		}
		if etag != "" {
			req.Header.Set("If-None-Match", etag)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	tests := []struct {
		name, path, accept string
		code               int
		contentType        string
	}{
		{"v2 json", "/openapi/v2", "application/json", 200, "application/json"},
		{"v2 any", "/openapi/v2", "", 200, "application/json"},
		{"v2 protobuf", "/openapi/v2", "application/com.github.proto-openapi.spec.v2@v1.0+protobuf", 200, "application/com.github.proto-openapi.spec.v2.v1.0+protobuf"},
		{"v2 xml", "/openapi/v2", "application/xml", 406, ""},
		{"v3 index", "/openapi/v3", "", 200, "application/json"},
		{"v3 group json", "/openapi/v3/apis/apps/v1", "application/json", 200, "application/json"},
		{"v3 group protobuf", "/openapi/v3/api/v1", "application/com.github.proto-openapi.spec.v3@v1.0+protobuf", 200, "application/com.github.proto-openapi.spec.v3.v1.0+protobuf"},
		{"v3 unknown group", "/openapi/v3/apis/nope/v1", "", 404, "text/plain; charset=utf-8"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := get(tt.path, tt.accept, "")
			if resp.StatusCode != tt.code {
				t.Fatalf("status %d, want %d", resp.StatusCode, tt.code)
			}
			if got := resp.Header.Get("Content-Type"); tt.contentType != "" && got != tt.contentType {
				t.Errorf("Content-Type %q, want %q", got, tt.contentType)
			}
			if tt.code != 200 {
				return
			}
			etag := resp.Header.Get("Etag")
			if etag == "" {
				t.Fatal("no Etag")
			}
			if again := get(tt.path, tt.accept, etag); again.StatusCode != http.StatusNotModified {
				t.Errorf("If-None-Match answered %d, want 304", again.StatusCode)
			}
		})
	}
}

// TestGroupVersionLifecycle adds and removes a custom resource's group
// version at run time, as CRDs will.
func TestGroupVersionLifecycle(t *testing.T) {
	s := newTestSpec(t)
	srv := httptest.NewServer(s.Handler())
	defer srv.Close()
	gv := schema.GroupVersion{Group: "example.com", Version: "v1"}
	widget := &registry.Resource{
		GroupVersion: gv, Resource: "widgets", Kind: "Widget", Namespaced: true,
		Subresources: []string{"status"},
		New: func() runtime.Object {
			u := &unstructured.Unstructured{}
			u.SetGroupVersionKind(gv.WithKind("Widget"))
			return u
		},
		NewList: func() runtime.Object {
			u := &unstructured.UnstructuredList{}
			u.SetGroupVersionKind(gv.WithKind("WidgetList"))
			return u
		},
	}
	defs := func(ref common.ReferenceCallback) map[string]common.OpenAPIDefinition {
		obj := func(props map[string]spec.Schema) common.OpenAPIDefinition {
			return common.OpenAPIDefinition{Schema: spec.Schema{SchemaProps: spec.SchemaProps{Type: []string{"object"}, Properties: props}}}
		}
		return map[string]common.OpenAPIDefinition{
			"com.example.v1.Widget": {
				Schema: spec.Schema{SchemaProps: spec.SchemaProps{Type: []string{"object"}, Properties: map[string]spec.Schema{
					"metadata": {SchemaProps: spec.SchemaProps{Ref: ref("io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta")}},
					"spec":     {SchemaProps: spec.SchemaProps{Type: []string{"object"}}},
				}}},
				Dependencies: []string{"io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"},
			},
			"com.example.v1.WidgetList": obj(nil),
		}
	}
	status := func(path string) int {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}

	s.AddGroupVersion(gv, []*registry.Resource{widget}, defs)
	if got := status("/openapi/v3/apis/example.com/v1"); got != 200 {
		t.Fatalf("after add: %d", got)
	}
	doc, err := s.BuildV3(gv)
	if err != nil {
		t.Fatal(err)
	}
	w := doc.Components.Schemas["com.example.v1.Widget"]
	if w == nil {
		t.Fatal("no Widget schema")
	}
	want := []any{map[string]any{"group": "example.com", "version": "v1", "kind": "Widget"}}
	if diff := cmp.Diff(want, w.Extensions[extGVK]); diff != "" {
		t.Errorf("Widget GVK (-want +got):\n%s", diff)
	}
	patch := doc.Paths.Paths["/apis/example.com/v1/namespaces/{namespace}/widgets/{name}"].Patch
	if patch == nil || patch.OperationId != "patchExampleComV1NamespacedWidget" {
		t.Fatalf("patch = %+v", patch)
	}
	if _, ok := patch.RequestBody.Content["application/strategic-merge-patch+json"]; ok {
		t.Error("custom resource offers strategic merge patch")
	}
	v2, err := s.BuildV2()
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := v2.Definitions["com.example.v1.Widget"]; !ok {
		t.Error("v2 lacks the added Widget")
	}

	s.RemoveGroupVersion(gv)
	if got := status("/openapi/v3/apis/example.com/v1"); got != 404 {
		t.Errorf("after remove: %d, want 404", got)
	}
	v2, err = s.BuildV2()
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := v2.Definitions["com.example.v1.Widget"]; ok {
		t.Error("v2 still has the removed Widget")
	}
}

// TestV3Hashes checks that a document evicted from the cache comes back
// byte for byte, so the hash the index handed out stays valid.
func TestV3Hashes(t *testing.T) {
	s := newTestSpec(t)
	srv := httptest.NewServer(s.Handler())
	defer srv.Close()
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

	resp, err := http.Get(srv.URL + "/openapi/v3")
	if err != nil {
		t.Fatal(err)
	}
	var index handler3.OpenAPIV3Discovery
	if err := json.NewDecoder(resp.Body).Decode(&index); err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if len(index.Paths) <= v3Cached {
		t.Fatalf("fixture has %d group versions; needs more than %d to evict", len(index.Paths), v3Cached)
	}
	// Twice over every group version: the second round reads documents
	// rebuilt after eviction.
	for round := 0; round < 2; round++ {
		for key, gv := range index.Paths {
			resp, err := noRedirect.Get(srv.URL + gv.ServerRelativeURL)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Errorf("round %d %s: status %d, want 200", round, key, resp.StatusCode)
			}
			if got := resp.Header.Get("Cache-Control"); got != "public, immutable" {
				t.Errorf("round %d %s: Cache-Control %q", round, key, got)
			}
		}
	}
	resp, err = noRedirect.Get(srv.URL + "/openapi/v3/apis/apps/v1?hash=stale")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMovedPermanently || resp.Header.Get("Location") != index.Paths["apis/apps/v1"].ServerRelativeURL {
		t.Errorf("stale hash: %d to %q, want 301 to %q", resp.StatusCode, resp.Header.Get("Location"), index.Paths["apis/apps/v1"].ServerRelativeURL)
	}
}
