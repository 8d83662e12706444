package apiserver

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// allocated runs f and returns the bytes the process allocated meanwhile
// (every goroutine's, so the embedded etcd's too).
func allocated(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// billionLaughs is a YAML document whose aliases expand to 9^9 strings.
func billionLaughs(head string) string {
	var b strings.Builder
	b.WriteString(head)
	b.WriteString("a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n")
	prev := "a"
	for _, n := range []string{"b", "c", "d", "e", "f", "g", "h", "i"} {
		fmt.Fprintf(&b, "%s: &%s [*%s,*%s,*%s,*%s,*%s,*%s,*%s,*%s,*%s]\n", n, n, prev, prev, prev, prev, prev, prev, prev, prev, prev)
		prev = n
	}
	return b.String()
}

// TestPatchDecodeBombs sends bodies that are small on the wire but grow
// without bound when decoded or applied (JSON patch copies, deep nesting,
// YAML aliases, protobuf lengths), and bodies over the 3 MiB limit: each is
// refused with a Status (413, 422 or 400) and the server allocates less
// than 50 MiB on it (a memory bound, measured with runtime.ReadMemStats).
func TestPatchDecodeBombs(t *testing.T) {
	s := newFuzzServer(t)
	create := httptest.NewRequest(http.MethodPost, "/api/v1/namespaces/default/configmaps",
		strings.NewReader(`{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"target","annotations":{"a":"`+strings.Repeat("x", 1024)+`"}},"data":{"k":"v"}}`))
	create.Header.Set("Content-Type", "application/json")
	rec := httptest.NewRecorder()
	s.ServeHTTP(rec, create)
	if rec.Code != http.StatusCreated {
		t.Fatalf("create: %d %s", rec.Code, rec.Body.String())
	}

	// Each copy doubles the annotations: 64 copies would be 2^64 KiB.
	var ops []map[string]string
	for i := range 64 {
		ops = append(ops, map[string]string{"op": "copy", "from": "/metadata/annotations", "path": fmt.Sprintf("/metadata/annotations/c%d", i)})
	}
	copyDoubling, _ := json.Marshal(ops)
	// The same with a fresh key each time, as the brief's chain a→b→c.
	ops = ops[:0]
	prev := "a"
	for i := range 10000 {
		next := fmt.Sprintf("k%d", i)
		ops = append(ops, map[string]string{"op": "copy", "from": "/metadata/annotations/" + prev, "path": "/metadata/annotations/" + next})
		prev = next
	}
	copyChain, _ := json.Marshal(ops)
	tooManyOps, _ := json.Marshal(append(ops, ops[0]))

	deepJSON := strings.Repeat(`{"a":`, 100000) + "1" + strings.Repeat("}", 100000)
	deepYAML := strings.Repeat("[", 100000) + strings.Repeat("]", 100000)
	laughs := billionLaughs("")
	tests := []struct {
		name, contentType, method, path, body string
		wantCodes                             []int
	}{
		{"json patch copies doubling a field", "application/json-patch+json", http.MethodPatch, "target", string(copyDoubling), []int{422}},
		{"json patch 10000 copies of a 1 KiB field", "application/json-patch+json", http.MethodPatch, "target", string(copyChain), []int{422}},
		{"json patch over 10000 operations", "application/json-patch+json", http.MethodPatch, "target", string(tooManyOps), []int{413}},
		{"json patch over 3 MiB", "application/json-patch+json", http.MethodPatch, "target", `[{"op":"add","path":"/data/x","value":"` + strings.Repeat("x", 3<<20) + `"}]`, []int{413}},
		{"merge patch over 3 MiB", "application/merge-patch+json", http.MethodPatch, "target", `{"data":{"x":"` + strings.Repeat("x", 3<<20) + `"}}`, []int{413}},
		{"strategic merge patch over 3 MiB", "application/strategic-merge-patch+json", http.MethodPatch, "target", `{"data":{"x":"` + strings.Repeat("x", 3<<20) + `"}}`, []int{413}},
		{"apply over 3 MiB", "application/apply-patch+yaml", http.MethodPatch, "target", "apiVersion: v1\nkind: ConfigMap\ndata:\n  x: " + strings.Repeat("x", 3<<20), []int{413}},
		{"create over 3 MiB", "application/json", http.MethodPost, "", `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"big"},"data":{"x":"` + strings.Repeat("x", 3<<20) + `"}}`, []int{413}},
		{"merge patch nested 100000 deep", "application/merge-patch+json", http.MethodPatch, "target", deepJSON, []int{400, 422}},
		{"strategic merge patch nested 100000 deep", "application/strategic-merge-patch+json", http.MethodPatch, "target", deepJSON, []int{400, 422}},
		{"json patch value nested 100000 deep", "application/json-patch+json", http.MethodPatch, "target", `[{"op":"add","path":"/data/x","value":` + deepJSON + `}]`, []int{400, 422}},
		{"apply nested 100000 deep", "application/apply-patch+yaml", http.MethodPatch, "target", "apiVersion: v1\nkind: ConfigMap\ndata: " + deepYAML, []int{400, 422}},
		{"create YAML nested 100000 deep", "application/yaml", http.MethodPost, "", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: deep}\ndata: " + deepYAML, []int{400, 422}},
		{"apply billion laughs", "application/apply-patch+yaml", http.MethodPatch, "target", billionLaughs("apiVersion: v1\nkind: ConfigMap\n"), []int{400, 422}},
		{"merge patch billion laughs (YAML)", "application/merge-patch+json", http.MethodPatch, "target", laughs, []int{400, 422}},
		{"strategic merge patch billion laughs (YAML)", "application/strategic-merge-patch+json", http.MethodPatch, "target", laughs, []int{400, 422}},
		{"protobuf with a 2 GiB length", "application/vnd.kubernetes.protobuf", http.MethodPost, "", "k8s\x00\x12\xf0\xff\xff\xff\x07abc", []int{400, 415}},
		{"protobuf object with a 2 GiB field", "application/vnd.kubernetes.protobuf", http.MethodPost, "", "k8s\x00\x0a\x0e\x0a\x02v1\x12\x09ConfigMap\x12\x07\x0a\x05\x0a\xf0\xff\xff\x07", []int{400, 415}},
		{"create billion laughs", "application/yaml", http.MethodPost, "", billionLaughs("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: laughs}\n"), []int{400, 422}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := "/api/v1/namespaces/default/configmaps"
			if tt.path != "" {
				path += "/" + tt.path + "?fieldManager=bomb"
			}
			var rec *httptest.ResponseRecorder
			n := allocated(func() {
				req := httptest.NewRequest(tt.method, path, strings.NewReader(tt.body))
				req.Header.Set("Content-Type", tt.contentType)
				rec = httptest.NewRecorder()
				s.ServeHTTP(rec, req)
			})
			var st metav1.Status
			if err := json.Unmarshal(rec.Body.Bytes(), &st); err != nil || st.Kind != "Status" || int(st.Code) != rec.Code {
				t.Fatalf("%d without a Status: %.300s", rec.Code, rec.Body.String())
			}
			ok := false
			for _, c := range tt.wantCodes {
				ok = ok || rec.Code == c
			}
			if !ok {
				t.Errorf("code %d (%s: %.200s), want one of %v", rec.Code, st.Reason, st.Message, tt.wantCodes)
			}
			if n > 50<<20 {
				t.Errorf("the request allocated %d MiB, want under 50 MiB", n>>20)
			}
			t.Logf("%d %s, %d KiB allocated: %.120s", rec.Code, st.Reason, n>>10, st.Message)
		})
	}
	// The object is as it was.
	req := httptest.NewRequest(http.MethodGet, "/api/v1/namespaces/default/configmaps/target", nil)
	rec = httptest.NewRecorder()
	s.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK || !bytes.Contains(rec.Body.Bytes(), []byte(`"data":{"k":"v"}`)) {
		t.Errorf("target after the bombs: %d %.300s", rec.Code, rec.Body.String())
	}
}
