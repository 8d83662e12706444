package apiserver

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"skiff/internal/apiserver/openapi"
	"skiff/internal/apiserver/registry"
	"skiff/internal/apiserver/registry/all"
	"skiff/internal/etcd/etcdtest"
	"skiff/internal/storage"
	etcdstore "skiff/internal/storage/etcd"
)

// builtinSpec returns the scheme, the built-in resources and their OpenAPI
// spec.
func builtinSpec(tb testing.TB) (*runtime.Scheme, []registry.Resource, *openapi.Spec) {
	tb.Helper()
	scheme, err := NewScheme()
	if err != nil {
		tb.Fatal(err)
	}
	resources := all.Resources()
	ptrs := make([]*registry.Resource, len(resources))
	for i := range resources {
		ptrs[i] = &resources[i]
	}
	spec, err := openapi.New(openapi.Config{Scheme: scheme, Resources: ptrs, Version: "v1.37.2"})
	if err != nil {
		tb.Fatal(err)
	}
	return scheme, resources, spec
}

// startCustomServer runs an API server with OpenAPI wired on store until
// the test ends (or stop is called).
func startCustomServer(t *testing.T, store storage.Store) (s *Server, stop func()) {
	t.Helper()
	scheme, resources, spec := builtinSpec(t)
	h := spec.Handler()
	s, err := New(Config{Store: store, Scheme: scheme, Resources: resources, TypeConverter: spec.TypeConverter, OpenAPI: spec,
		Extra: map[string]http.Handler{"/openapi/v2": h, "/openapi/v3": h, "/openapi/v3/": h}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = s.Run(ctx); close(done) }()
	var once bool
	stop = func() {
		if !once {
			once = true
			cancel()
			<-done
		}
	}
	t.Cleanup(stop)
	<-s.Cache().Ready()
	return s, stop
}

func do(t *testing.T, s *Server, method, path, body string) (int, string) {
	t.Helper()
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	rec := httptest.NewRecorder()
	s.ServeHTTP(rec, req)
	return rec.Code, rec.Body.String()
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestCustomResourceLifecycle(t *testing.T) {
	e := etcdtest.StartServer(t, nil)
	store := etcdstore.New(e.Client(), etcdstore.Config{})
	s, stop := startCustomServer(t, store)

	const crd = `{"apiVersion":"apiextensions.k8s.io/v1","kind":"CustomResourceDefinition","metadata":{"name":"%P.example.com"},
"spec":{"group":"example.com","scope":"Cluster","names":{"plural":"%P","kind":"%K"},
"versions":[{"name":"v1","served":true,"storage":true,"schema":{"openAPIV3Schema":{"type":"object","properties":{
"spec":{"type":"object","properties":{"port":{"x-kubernetes-int-or-string":true},"extra":{"type":"object","x-kubernetes-preserve-unknown-fields":true},
"ports":{"type":"array","x-kubernetes-list-type":"map","x-kubernetes-list-map-keys":["name"],"items":{"type":"object","properties":{"name":{"type":"string"},"port":{"type":"integer","default":80}}}}}}}}}}]}}`
	mk := func(plural, kind string) string {
		return strings.NewReplacer("%P", plural, "%K", kind).Replace(crd)
	}
	if code, body := do(t, s, http.MethodPost, "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", mk("gizmos", "Gizmo")); code != http.StatusCreated {
		t.Fatalf("create crd: %d %s", code, body)
	}
	waitFor(t, "gizmos served", func() bool {
		code, _ := do(t, s, http.MethodGet, "/apis/example.com/v1/gizmos", "")
		return code == http.StatusOK
	})

	// A second CRD whose kind clashes is not accepted and not served.
	if code, body := do(t, s, http.MethodPost, "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", mk("others", "Gizmo")); code != http.StatusCreated {
		t.Fatalf("create clashing crd: %d %s", code, body)
	}
	waitFor(t, "NamesAccepted False", func() bool {
		_, body := do(t, s, http.MethodGet, "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/others.example.com", "")
		var c apiextensionsv1.CustomResourceDefinition
		_ = json.Unmarshal([]byte(body), &c)
		for _, cond := range c.Status.Conditions {
			if cond.Type == apiextensionsv1.NamesAccepted && cond.Status == apiextensionsv1.ConditionFalse {
				return true
			}
		}
		return false
	})
	if code, _ := do(t, s, http.MethodGet, "/apis/example.com/v1/others", ""); code != http.StatusNotFound {
		t.Errorf("clashing CRD served: %d", code)
	}

	objTests := []struct {
		name     string
		body     string
		wantCode int
		wantSpec string
	}{
		{name: "int-or-string int, preserved extra, list-map defaults",
			body:     `{"apiVersion":"example.com/v1","kind":"Gizmo","metadata":{"name":"a"},"spec":{"port":8080,"extra":{"any":{"thing":1}},"ports":[{"name":"http"}],"junk":1}}`,
			wantCode: http.StatusCreated, wantSpec: `{"extra":{"any":{"thing":1}},"port":8080,"ports":[{"name":"http","port":80}]}`},
		{name: "int-or-string string",
			body:     `{"apiVersion":"example.com/v1","kind":"Gizmo","metadata":{"name":"b"},"spec":{"port":"http"}}`,
			wantCode: http.StatusCreated, wantSpec: `{"port":"http"}`},
		{name: "int-or-string bool",
			body:     `{"apiVersion":"example.com/v1","kind":"Gizmo","metadata":{"name":"c"},"spec":{"port":true}}`,
			wantCode: http.StatusUnprocessableEntity},
		{name: "duplicate map key",
			body:     `{"apiVersion":"example.com/v1","kind":"Gizmo","metadata":{"name":"d"},"spec":{"ports":[{"name":"x"},{"name":"x"}]}}`,
			wantCode: http.StatusUnprocessableEntity},
	}
	for _, tt := range objTests {
		t.Run(tt.name, func(t *testing.T) {
			code, body := do(t, s, http.MethodPost, "/apis/example.com/v1/gizmos", tt.body)
			if code != tt.wantCode {
				t.Fatalf("create: %d %s", code, body)
			}
			if tt.wantSpec == "" {
				return
			}
			var got struct{ Spec json.RawMessage }
			if err := json.Unmarshal([]byte(body), &got); err != nil {
				t.Fatal(err)
			}
			var compact bytes.Buffer
			_ = json.Compact(&compact, got.Spec)
			if diff := cmp.Diff(tt.wantSpec, compact.String()); diff != "" {
				t.Errorf("spec (-want +got):\n%s", diff)
			}
		})
	}

	// Protobuf is refused for custom resources.
	req := httptest.NewRequest(http.MethodGet, "/apis/example.com/v1/gizmos", nil)
	req.Header.Set("Accept", "application/vnd.kubernetes.protobuf")
	rec := httptest.NewRecorder()
	s.ServeHTTP(rec, req)
	if rec.Code != http.StatusNotAcceptable {
		t.Errorf("protobuf accept: %d, want 406", rec.Code)
	}

	// OpenAPI v3 and v2 describe the group version.
	code, body := do(t, s, http.MethodGet, "/openapi/v3/apis/example.com/v1", "")
	if code != http.StatusOK || !strings.Contains(body, `"com.example.v1.Gizmo"`) {
		t.Errorf("openapi v3: %d %.300s", code, body)
	}
	code, body = do(t, s, http.MethodGet, "/openapi/v2", "")
	if code != http.StatusOK || !strings.Contains(body, `"com.example.v1.Gizmo"`) {
		t.Errorf("openapi v2: %d", code)
	}
	// Aggregated discovery lists the resource.
	req = httptest.NewRequest(http.MethodGet, "/apis", nil)
	req.Header.Set("Accept", "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList")
	rec = httptest.NewRecorder()
	s.ServeHTTP(rec, req)
	if !strings.Contains(rec.Body.String(), `"resource":"gizmos"`) {
		t.Errorf("aggregated discovery lacks gizmos: %.300s", rec.Body.String())
	}

	// Once the CRD it clashed with is gone, the refused CRD is served.
	if code, body := do(t, s, http.MethodDelete, "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/gizmos.example.com", ""); code != http.StatusOK {
		t.Fatalf("delete crd: %d %s", code, body)
	}
	waitFor(t, "others served", func() bool {
		code, _ := do(t, s, http.MethodGet, "/apis/example.com/v1/others", "")
		return code == http.StatusOK
	})
	if code, body := do(t, s, http.MethodDelete, "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/others.example.com", ""); code != http.StatusOK {
		t.Fatalf("delete crd: %d %s", code, body)
	}
	waitFor(t, "others gone", func() bool {
		code, _ := do(t, s, http.MethodGet, "/apis/example.com/v1/others", "")
		return code == http.StatusNotFound
	})
	if code, body := do(t, s, http.MethodPost, "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", mk("gizmos", "Gizmo")); code != http.StatusCreated {
		t.Fatalf("recreate crd: %d %s", code, body)
	}
	waitFor(t, "gizmos served again", func() bool {
		code, _ := do(t, s, http.MethodGet, "/apis/example.com/v1/gizmos", "")
		return code == http.StatusOK
	})
	if code, body := do(t, s, http.MethodPost, "/apis/example.com/v1/gizmos", `{"apiVersion":"example.com/v1","kind":"Gizmo","metadata":{"name":"a"},"spec":{"ports":[{"name":"http"}]}}`); code != http.StatusCreated {
		t.Fatalf("create gizmo: %d %s", code, body)
	}

	// A new served version appears when the CRD changes.
	code, body = do(t, s, http.MethodGet, "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/gizmos.example.com", "")
	if code != http.StatusOK {
		t.Fatalf("get crd: %d %s", code, body)
	}
	var cur apiextensionsv1.CustomResourceDefinition
	if err := json.Unmarshal([]byte(body), &cur); err != nil {
		t.Fatal(err)
	}
	v2 := *cur.Spec.Versions[0].DeepCopy()
	v2.Name, v2.Storage = "v2", false
	cur.Spec.Versions = append(cur.Spec.Versions, v2)
	cur.APIVersion, cur.Kind = "apiextensions.k8s.io/v1", "CustomResourceDefinition"
	updated, _ := json.Marshal(&cur)
	if code, body := do(t, s, http.MethodPut, "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/gizmos.example.com", string(updated)); code != http.StatusOK {
		t.Fatalf("update crd: %d %s", code, body)
	}
	waitFor(t, "v2 served", func() bool {
		code, body := do(t, s, http.MethodGet, "/apis/example.com/v2/gizmos/a", "")
		return code == http.StatusOK && strings.Contains(body, `"apiVersion":"example.com/v2"`)
	})

	// Moving the storage version to v2 still serves objects stored as v1.
	_, body = do(t, s, http.MethodGet, "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/gizmos.example.com", "")
	cur = apiextensionsv1.CustomResourceDefinition{}
	if err := json.Unmarshal([]byte(body), &cur); err != nil {
		t.Fatal(err)
	}
	cur.Spec.Versions[0].Storage, cur.Spec.Versions[1].Storage = false, true
	updated, _ = json.Marshal(&cur)
	if code, body := do(t, s, http.MethodPut, "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/gizmos.example.com", string(updated)); code != http.StatusOK {
		t.Fatalf("update crd storage version: %d %s", code, body)
	}
	waitFor(t, "v2 storage version", func() bool {
		_, body := do(t, s, http.MethodGet, "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/gizmos.example.com", "")
		return strings.Contains(body, `"storedVersions":["v1","v2"]`)
	})
	for _, v := range []string{"v1", "v2"} {
		code, body := do(t, s, http.MethodGet, "/apis/example.com/"+v+"/gizmos/a", "")
		if code != http.StatusOK || !strings.Contains(body, `"apiVersion":"example.com/`+v+`"`) {
			t.Errorf("get %s after storage change: %d %.200s", v, code, body)
		}
	}

	// A restarted server serves the CRD and its objects again.
	stop()
	s2, _ := startCustomServer(t, store)
	waitFor(t, "gizmos served after restart", func() bool {
		code, body := do(t, s2, http.MethodGet, "/apis/example.com/v1/gizmos/a", "")
		return code == http.StatusOK && strings.Contains(body, `"http"`)
	})

	// Deleting the CRD removes the objects, then the CRD, then the docs.
	if code, body := do(t, s2, http.MethodDelete, "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/gizmos.example.com", ""); code != http.StatusOK {
		t.Fatalf("delete crd: %d %s", code, body)
	}
	waitFor(t, "crd gone", func() bool {
		code, _ := do(t, s2, http.MethodGet, "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/gizmos.example.com", "")
		return code == http.StatusNotFound
	})
	page, err := store.List(context.Background(), "/registry/example.com/gizmos/", storage.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.KVs) != 0 {
		t.Errorf("%d objects left after CRD deletion", len(page.KVs))
	}
	waitFor(t, "openapi v3 dropped", func() bool {
		code, _ := do(t, s2, http.MethodGet, "/openapi/v3/apis/example.com/v1", "")
		return code == http.StatusNotFound
	})
}
