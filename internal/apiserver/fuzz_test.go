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

// fuzzTarget is the object the patch fuzzers patch: a Deployment, whose
// lists (containers, env, ports, volumes) have strategic merge keys.
const fuzzTarget = `{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"target","labels":{"a":"b"},"annotations":{"x":"y"},"finalizers":["f/one"]},
"spec":{"replicas":2,"selector":{"matchLabels":{"a":"b"}},"template":{"metadata":{"labels":{"a":"b"}},"spec":{
"containers":[{"name":"c","image":"i","env":[{"name":"E","value":"1"}],"ports":[{"containerPort":80,"protocol":"TCP"}],"volumeMounts":[{"name":"v","mountPath":"/v"}]}],
"volumes":[{"name":"v","emptyDir":{}}]}}}}`

// fuzzPatchType serves arbitrary bodies of one patch type (dry run, so the
// target stays as it is) on the Deployment and on its status and scale
// subresources, through the server's handler.
func fuzzPatchType(f *testing.F, contentType string, seeds []string) {
	s := newFuzzServer(f)
	create := httptest.NewRequest(http.MethodPost, "/apis/apps/v1/namespaces/default/deployments", strings.NewReader(fuzzTarget))
	create.Header.Set("Content-Type", "application/json")
	rec := httptest.NewRecorder()
	s.ServeHTTP(rec, create)
	if rec.Code != http.StatusCreated {
		f.Fatalf("create target: %d %s", rec.Code, rec.Body.String())
	}
	for i, sd := range seeds {
		f.Add(uint8(i), []byte(sd))
	}
	subs := []string{"", "", "", "/status", "/scale"}
	f.Fuzz(func(t *testing.T, sub uint8, body []byte) {
		req := httptest.NewRequest(http.MethodPatch, "/apis/apps/v1/namespaces/default/deployments/target"+subs[int(sub)%len(subs)]+"?dryRun=All&fieldManager=fuzz", bytes.NewReader(body))
		req.Header.Set("Content-Type", contentType)
		rec := httptest.NewRecorder()
		s.ServeHTTP(rec, req)
		checkResponse(t, rec)
	})
}

// FuzzJSONPatch applies arbitrary JSON patches (RFC 6902).
func FuzzJSONPatch(f *testing.F) {
	fuzzPatchType(f, "application/json-patch+json", []string{
		`[{"op":"add","path":"/metadata/labels/x","value":"y"}]`,
		`[{"op":"test","path":"/spec/replicas","value":3}]`,
		`[{"op":"move","from":"/metadata","path":"/spec"}]`,
		`[{"op":"copy","from":"/spec/template","path":"/spec/template/metadata/annotations/t"}]`,
		`[{"op":"remove","path":"/spec/template/spec/containers/0"}]`,
		`[{"op":"replace","path":"/spec/template/spec/containers/-1/image","value":"j"}]`,
		`[{"op":"add","path":"/spec/template/spec/containers/-","value":{"name":"d","image":"i"}}]`,
		`[{"op":"replace","path":"/spec/replicas","value":"three"}]`,
		`[{"op":"test","path":"","value":{}}]`,
		`[{"op":"add","path":"/metadata/finalizers/01","value":"f/two"}]`,
		`[{"op":"nope"}]`, `[]`, `{}`, `[{"op":"add","path":"/a~2b","value":1}]`,
	})
}

// FuzzMergePatch applies arbitrary JSON merge patches (RFC 7386), JSON or
// YAML.
func FuzzMergePatch(f *testing.F) {
	fuzzPatchType(f, "application/merge-patch+json", []string{
		`{"metadata":{"labels":{"a":null,"x":"y"}}}`, `{"spec":{"replicas":null}}`, `{"spec":{"template":{"spec":{"containers":[]}}}}`,
		`{"metadata":{"name":"other"}}`, `{"metadata":{"resourceVersion":"1"}}`, `{"spec":{"replicas":-1}}`, `{"kind":"Secret"}`,
		"spec:\n  replicas: 4\n", `null`, `[]`, `not json`, `{"status":{"replicas":9}}`,
	})
}

// FuzzStrategicMergePatch applies arbitrary strategic merge patches, with
// their directives ($patch, $retainKeys, $setElementOrder,
// $deleteFromPrimitiveList).
func FuzzStrategicMergePatch(f *testing.F) {
	fuzzPatchType(f, "application/strategic-merge-patch+json", []string{
		`{"spec":{"template":{"spec":{"containers":[{"name":"c","image":"j"}]}}}}`,
		`{"spec":{"template":{"spec":{"containers":[{"name":"c","$patch":"delete"}]}}}}`,
		`{"spec":{"template":{"spec":{"containers":[{"name":"c","env":[{"name":"E","$patch":"replace"}]}]}}}}`,
		`{"spec":{"template":{"spec":{"$setElementOrder/containers":[{"name":"d"},{"name":"c"}],"containers":[{"name":"d","image":"i"}]}}}}`,
		`{"spec":{"template":{"spec":{"volumes":[{"name":"v","$retainKeys":["name"],"hostPath":{"path":"/x"}}]}}}}`,
		`{"metadata":{"$deleteFromPrimitiveList/finalizers":["f/one"]}}`,
		`{"metadata":{"labels":{"$patch":"replace","z":"z"}}}`,
		`{"spec":{"strategy":{"$retainKeys":["type"],"type":"Recreate"}}}`,
		`{"spec":{"template":{"spec":{"containers":[{"ports":[{"containerPort":"x"}]}]}}}}`,
		`{"$patch":"delete"}`, `{"spec":{"template":{"spec":{"containers":{"name":"c"}}}}}`, `[]`, "spec: {replicas: 5}",
	})
}

// FuzzApply applies arbitrary server-side apply bodies, YAML or JSON.
func FuzzApply(f *testing.F) {
	fuzzPatchType(f, "application/apply-patch+yaml", []string{
		"apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: target\nspec:\n  replicas: 3\n",
		`{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"target"},"spec":{"template":{"spec":{"containers":[{"name":"c","image":"j"}]}}}}`,
		`{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"target","labels":{"z":"z"}}}`,
		`{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"other"}}`,
		`{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"target","managedFields":[{"manager":"m","operation":"Apply"}]}}`,
		`{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"target"},"status":{"replicas":1}}`,
		`{"apiVersion":"autoscaling/v1","kind":"Scale","metadata":{"name":"target"},"spec":{"replicas":1}}`,
		`{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"target"},"spec":{"template":{"spec":{"containers":[{"name":"c"},{"name":"c"}]}}}}`,
		`{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"target"},"spec":{"replicas":"x"}}`,
		`{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"target"}}`,
		"apiVersion: apps/v1\nkind: Deployment\nmetadata: &m {name: target}\nspec: {template: {metadata: *m}}\n",
		"- 1\n", "", "{", "\t",
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
