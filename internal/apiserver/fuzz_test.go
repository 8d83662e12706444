package apiserver

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"skiff/internal/etcd/etcdtest"
	etcdstore "skiff/internal/storage/etcd"
)

// newFuzzServer is an API server on an embedded etcd member, with no
// authentication (the fuzzers aim at decoding, not at auth), and with the
// OpenAPI schemas that managedFields and server-side apply need, as the
// real server has them.
func newFuzzServer(tb testing.TB) *Server {
	tb.Helper()
	e := etcdtest.StartServer(tb, nil)
	scheme, resources, spec := builtinSpec(tb)
	s, err := New(Config{Store: etcdstore.New(e.Client(), etcdstore.Config{}), Scheme: scheme, Resources: resources, TypeConverter: spec.TypeConverter})
	if err != nil {
		tb.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = s.Run(ctx); close(done) }()
	tb.Cleanup(func() { cancel(); <-done })
	<-s.Cache().Ready()
	if err := s.Bootstrap(ctx, BootstrapConfig{Port: 6443}); err != nil {
		tb.Fatal(err)
	}
	return s
}

// checkResponse fails unless a failed request answered with a metav1.Status
// and the server did not report an internal error.
func checkResponse(t *testing.T, rec *httptest.ResponseRecorder) {
	t.Helper()
	// 504 is upstream's answer to a resourceVersion the server has not
	// reached; any other 5xx is a server fault.
	if rec.Code >= 500 && rec.Code != http.StatusGatewayTimeout {
		t.Fatalf("server error %d: %s", rec.Code, rec.Body.String())
	}
	if rec.Code >= 400 {
		var st metav1.Status
		if err := json.Unmarshal(rec.Body.Bytes(), &st); err != nil || st.Kind != "Status" || int(st.Code) != rec.Code {
			t.Fatalf("error %d without a Status: %s", rec.Code, rec.Body.String())
		}
	}
}

var fuzzContentTypes = []string{"application/json", "application/yaml", "application/vnd.kubernetes.protobuf", "text/plain", ""}

// FuzzCreate sends arbitrary bodies to the create path of a few resources.
func FuzzCreate(f *testing.F) {
	s := newFuzzServer(f)
	seeds := []string{
		`{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"a"},"data":{"k":"v"}}`,
		`{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"d"},"spec":{"selector":{"matchLabels":{"a":"b"}},"template":{"metadata":{"labels":{"a":"b"}},"spec":{"containers":[{"name":"c","image":"i"}]}}}}`,
		`{"apiVersion":"v1","kind":"Service","metadata":{"name":"s"},"spec":{"type":"NodePort","ports":[{"port":80,"nodePort":99999}]}}`,
		`{"apiVersion":"v1","kind":"Pod","metadata":{"generateName":"p-"},"spec":{"containers":[{"name":"c","image":"i","resources":{"limits":{"cpu":"-1"}}}]}}`,
		"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: y\n",
		`{"apiVersion":`, `[]`, `null`, "\x00\x01k8s\x00", `{"metadata":{"name":"` + strings.Repeat("x", 300) + `"}}`,
	}
	for i, sd := range seeds {
		f.Add(uint8(i), uint8(i), []byte(sd))
	}
	paths := []string{
		"/api/v1/namespaces/default/configmaps",
		"/apis/apps/v1/namespaces/default/deployments",
		"/api/v1/namespaces/default/services",
		"/api/v1/namespaces/default/pods",
		"/api/v1/namespaces",
		"/apis/batch/v1/namespaces/default/cronjobs",
	}
	f.Fuzz(func(t *testing.T, p, ct uint8, body []byte) {
		req := httptest.NewRequest(http.MethodPost, paths[int(p)%len(paths)]+"?dryRun=All", bytes.NewReader(body))
		req.Header.Set("Content-Type", fuzzContentTypes[int(ct)%len(fuzzContentTypes)])
		rec := httptest.NewRecorder()
		s.ServeHTTP(rec, req)
		checkResponse(t, rec)
	})
}

// FuzzPatch applies arbitrary patches of every type to a stored object.
func FuzzPatch(f *testing.F) {
	s := newFuzzServer(f)
	create := httptest.NewRequest(http.MethodPost, "/api/v1/namespaces/default/configmaps",
		strings.NewReader(`{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"target","labels":{"a":"b"}},"data":{"k":"v"}}`))
	create.Header.Set("Content-Type", "application/json")
	rec := httptest.NewRecorder()
	s.ServeHTTP(rec, create)
	if rec.Code != http.StatusCreated {
		f.Fatalf("create target: %d %s", rec.Code, rec.Body.String())
	}
	types := []string{"application/json-patch+json", "application/merge-patch+json", "application/strategic-merge-patch+json", "application/apply-patch+yaml", "application/json"}
	seeds := []string{
		`[{"op":"add","path":"/data/x","value":"y"}]`, `[{"op":"test","path":"/data/k","value":"nope"}]`, `[{"op":"move","from":"/metadata","path":"/data"}]`,
		`{"data":{"k":null}}`, `{"metadata":{"name":"other"}}`, `{"metadata":{"labels":{"$patch":"replace"}}}`,
		`{"$setElementOrder/finalizers":["x"]}`, `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: target\n`, `{"kind":"Secret"}`, `not json`,
	}
	for i, sd := range seeds {
		f.Add(uint8(i), []byte(sd))
	}
	f.Fuzz(func(t *testing.T, pt uint8, body []byte) {
		req := httptest.NewRequest(http.MethodPatch, "/api/v1/namespaces/default/configmaps/target?dryRun=All&fieldManager=fuzz", bytes.NewReader(body))
		req.Header.Set("Content-Type", types[int(pt)%len(types)])
		rec := httptest.NewRecorder()
		s.ServeHTTP(rec, req)
		checkResponse(t, rec)
	})
}

// FuzzQuery sends arbitrary query strings to list and watch.
func FuzzQuery(f *testing.F) {
	s := newFuzzServer(f)
	for _, q := range []string{"labelSelector=a%3Db", "fieldSelector=metadata.name%3Dx", "limit=1&continue=abc", "resourceVersion=x",
		"resourceVersionMatch=Exact&resourceVersion=0", "watch=true&timeoutSeconds=0", "labelSelector=a+in+(", "continue=eyJ2IjoibWV0YS5rOHMuaW8vdjEiLCJydiI6MSwic3RhcnQiOiIvIn0"} {
		f.Add(q)
	}
	f.Fuzz(func(t *testing.T, q string) {
		req := httptest.NewRequest(http.MethodGet, "/api/v1/configmaps", nil)
		req.URL.RawQuery = q
		if req.URL.Query().Get("watch") != "" {
			req.URL.RawQuery += "&timeoutSeconds=0"
		}
		rec := httptest.NewRecorder()
		s.ServeHTTP(rec, req)
		checkResponse(t, rec)
	})
}
