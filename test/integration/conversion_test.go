package integration

import (
	"context"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/utils/ptr"

	"skiff/internal/server/servertest"
)

// portWebhook is an in-process HTTPS conversion webhook: v1 objects carry
// "hostPort: host:port", v2 objects "host" and "port". It records every
// review it answers and fails the objects labelled fail=true.
type portWebhook struct {
	mu      sync.Mutex
	reviews []apiextensionsv1.ConversionRequest
}

func (p *portWebhook) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	review := &apiextensionsv1.ConversionReview{}
	if err := json.NewDecoder(r.Body).Decode(review); err != nil || review.Request == nil {
		http.Error(w, "bad review", http.StatusBadRequest)
		return
	}
	req := review.Request
	p.mu.Lock()
	p.reviews = append(p.reviews, *req)
	p.mu.Unlock()
	resp := &apiextensionsv1.ConversionResponse{UID: req.UID, Result: metav1.Status{Status: metav1.StatusSuccess}}
	for _, raw := range req.Objects {
		u := &unstructured.Unstructured{}
		if err := u.UnmarshalJSON(raw.Raw); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		if u.GetLabels()["fail"] == "true" {
			resp.Result = metav1.Status{Status: metav1.StatusFailure, Message: "refusing " + u.GetName()}
			break
		}
		switch req.DesiredAPIVersion {
		case "stable.example.com/v2":
			hp, _, _ := unstructured.NestedString(u.Object, "spec", "hostPort")
			host, port, _ := strings.Cut(hp, ":")
			unstructured.RemoveNestedField(u.Object, "spec", "hostPort")
			_ = unstructured.SetNestedField(u.Object, host, "spec", "host")
			_ = unstructured.SetNestedField(u.Object, port, "spec", "port")
		case "stable.example.com/v1":
			host, _, _ := unstructured.NestedString(u.Object, "spec", "host")
			port, _, _ := unstructured.NestedString(u.Object, "spec", "port")
			unstructured.RemoveNestedField(u.Object, "spec", "host")
			unstructured.RemoveNestedField(u.Object, "spec", "port")
			_ = unstructured.SetNestedField(u.Object, host+":"+port, "spec", "hostPort")
		}
		u.SetAPIVersion(req.DesiredAPIVersion)
		u.SetAnnotations(map[string]string{"converted-to": req.DesiredAPIVersion})
		// The server keeps its own metadata but labels and annotations.
		u.SetResourceVersion("1")
		data, _ := u.MarshalJSON()
		resp.ConvertedObjects = append(resp.ConvertedObjects, runtime.RawExtension{Raw: data})
	}
	review.Response, review.Request = resp, nil
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(review)
}

// objectsSent is how many objects each review carried so far.
func (p *portWebhook) objectsSent() []int {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := []int{}
	for _, r := range p.reviews {
		out = append(out, len(r.Objects))
	}
	return out
}

func (p *portWebhook) lastDesired() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.reviews) == 0 {
		return ""
	}
	return p.reviews[len(p.reviews)-1].DesiredAPIVersion
}

func portsCRD(url string, ca []byte, storage string) *apiextensionsv1.CustomResourceDefinition {
	sch := &apiextensionsv1.CustomResourceValidation{OpenAPIV3Schema: &apiextensionsv1.JSONSchemaProps{
		Type: "object", Properties: map[string]apiextensionsv1.JSONSchemaProps{
			"spec": {Type: "object", XPreserveUnknownFields: ptr.To(true)},
		}}}
	return &apiextensionsv1.CustomResourceDefinition{
		TypeMeta:   metav1.TypeMeta{APIVersion: "apiextensions.k8s.io/v1", Kind: "CustomResourceDefinition"},
		ObjectMeta: metav1.ObjectMeta{Name: "ports.stable.example.com"},
		Spec: apiextensionsv1.CustomResourceDefinitionSpec{
			Group: "stable.example.com", Scope: apiextensionsv1.NamespaceScoped,
			Names: apiextensionsv1.CustomResourceDefinitionNames{Plural: "ports", Singular: "port", Kind: "Port", ListKind: "PortList"},
			Versions: []apiextensionsv1.CustomResourceDefinitionVersion{
				{Name: "v1", Served: true, Storage: storage == "v1", Schema: sch},
				{Name: "v2", Served: true, Storage: storage == "v2", Schema: sch},
			},
			Conversion: &apiextensionsv1.CustomResourceConversion{
				Strategy: apiextensionsv1.WebhookConverter,
				Webhook: &apiextensionsv1.WebhookConversion{
					ClientConfig:             &apiextensionsv1.WebhookClientConfig{URL: &url, CABundle: ca},
					ConversionReviewVersions: []string{"v1", "v1beta1"},
				},
			},
		},
	}
}

// TestConversionWebhook checks Webhook conversion as a user sees it: reads,
// lists and watches in another version than the stored one go through the
// webhook (a list in one review), writes are stored in the storage
// version, and a failing webhook answers 500.
func TestConversionWebhook(t *testing.T) {
	hook := &portWebhook{}
	whs := httptest.NewTLSServer(hook)
	t.Cleanup(whs.Close)
	ca := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: whs.Certificate().Raw})

	ts := servertest.Start(t, nil)
	ctx := context.Background()
	dyn := ts.Dynamic(t)
	crds := dyn.Resource(crdGVR)
	if _, err := crds.Create(ctx, toUnstructured(t, portsCRD(whs.URL+"/convert", ca, "v1")), metav1.CreateOptions{}); err != nil {
		t.Fatalf("create crd: %v", err)
	}
	gvr := func(v string) schema.GroupVersionResource {
		return schema.GroupVersionResource{Group: "stable.example.com", Version: v, Resource: "ports"}
	}
	v1, v2 := dyn.Resource(gvr("v1")).Namespace("default"), dyn.Resource(gvr("v2")).Namespace("default")
	port := func(version, name string, spec map[string]interface{}) *unstructured.Unstructured {
		return &unstructured.Unstructured{Object: map[string]interface{}{
			"apiVersion": "stable.example.com/" + version, "kind": "Port",
			"metadata": map[string]interface{}{"name": name}, "spec": spec,
		}}
	}
	servertest.Wait(t, "ports served", func(context.Context) (bool, error) {
		_, err := v2.List(ctx, metav1.ListOptions{})
		return err == nil, err
	})

	// Stored as v1 and read as v1: no review.
	if _, err := v1.Create(ctx, port("v1", "a", map[string]interface{}{"hostPort": "localhost:8080"}), metav1.CreateOptions{}); err != nil {
		t.Fatalf("create a: %v", err)
	}
	if _, err := v1.Get(ctx, "a", metav1.GetOptions{}); err != nil {
		t.Fatalf("get a in v1: %v", err)
	}
	if diff := cmp.Diff([]int{}, hook.objectsSent()); diff != "" {
		t.Errorf("reviews sent without a version change (-want +got):\n%s", diff)
	}

	// Read in v2: converted.
	got, err := v2.Get(ctx, "a", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("get a in v2: %v", err)
	}
	wantSpec := map[string]interface{}{"host": "localhost", "port": "8080"}
	if diff := cmp.Diff(wantSpec, got.Object["spec"]); diff != "" {
		t.Errorf("a in v2 (-want +got):\n%s", diff)
	}
	if got.GetAPIVersion() != "stable.example.com/v2" || got.GetResourceVersion() == "1" || got.GetAnnotations()["converted-to"] != "stable.example.com/v2" {
		t.Errorf("a in v2: apiVersion %q, resourceVersion %q, annotations %v; want v2, the stored resourceVersion and the webhook's annotation",
			got.GetAPIVersion(), got.GetResourceVersion(), got.GetAnnotations())
	}

	// The storage version becomes v2; objects written from now on are
	// stored as v2 (a v1 create is converted on its way in).
	cur, err := crds.Get(ctx, "ports.stable.example.com", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("get crd: %v", err)
	}
	next := portsCRD(whs.URL+"/convert", ca, "v2")
	next.ResourceVersion = cur.GetResourceVersion()
	if _, err := crds.Update(ctx, toUnstructured(t, next), metav1.UpdateOptions{}); err != nil {
		t.Fatalf("update crd: %v", err)
	}
	probe := 0
	servertest.Wait(t, "v1 creates stored as v2", func(context.Context) (bool, error) {
		probe++
		name := "probe-" + string(rune('a'+probe%26))
		if _, err := v1.Create(ctx, port("v1", name, map[string]interface{}{"hostPort": "p:1"}), metav1.CreateOptions{}); err != nil {
			return false, err
		}
		stored := hook.lastDesired() == "stable.example.com/v2"
		return stored, v1.Delete(ctx, name, metav1.DeleteOptions{})
	})
	if _, err := v2.Create(ctx, port("v2", "b", map[string]interface{}{"host": "example", "port": "9090"}), metav1.CreateOptions{}); err != nil {
		t.Fatalf("create b: %v", err)
	}

	// A list of objects stored in different versions: each list sends the
	// objects that need it in one review.
	for _, tt := range []struct {
		version string
		client  interface {
			List(context.Context, metav1.ListOptions) (*unstructured.UnstructuredList, error)
		}
		want map[string]interface{}
	}{
		{"v1", v1, map[string]interface{}{"a": map[string]interface{}{"hostPort": "localhost:8080"}, "b": map[string]interface{}{"hostPort": "example:9090"}}},
		{"v2", v2, map[string]interface{}{"a": map[string]interface{}{"host": "localhost", "port": "8080"}, "b": map[string]interface{}{"host": "example", "port": "9090"}}},
	} {
		t.Run("list "+tt.version, func(t *testing.T) {
			before := len(hook.objectsSent())
			list, err := tt.client.List(ctx, metav1.ListOptions{})
			if err != nil {
				t.Fatalf("list: %v", err)
			}
			got := map[string]interface{}{}
			for _, it := range list.Items {
				if it.GetAPIVersion() != "stable.example.com/"+tt.version {
					t.Errorf("%s has apiVersion %q", it.GetName(), it.GetAPIVersion())
				}
				got[it.GetName()] = it.Object["spec"]
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("list in %s (-want +got):\n%s", tt.version, diff)
			}
			if diff := cmp.Diff([]int{1}, hook.objectsSent()[before:]); diff != "" {
				t.Errorf("objects per review (-want +got):\n%s", diff)
			}
		})
	}

	// A watch in v1 sees v2-stored objects converted.
	w, err := v1.Watch(ctx, metav1.ListOptions{FieldSelector: "metadata.name=b"})
	if err != nil {
		t.Fatalf("watch: %v", err)
	}
	ev := <-w.ResultChan()
	w.Stop()
	if u, ok := ev.Object.(*unstructured.Unstructured); !ok || ev.Type != watch.Added || u.GetAPIVersion() != "stable.example.com/v1" {
		t.Errorf("watch event %s %v, want ADDED of a v1 object", ev.Type, ev.Object)
	} else if hp, _, _ := unstructured.NestedString(u.Object, "spec", "hostPort"); hp != "example:9090" {
		t.Errorf("watched b has hostPort %q, want example:9090", hp)
	}

	// A webhook failure is a 500 naming the conversion. c is stored as v2,
	// so labelling it in v2 needs no conversion; reading it in v1 does.
	if _, err := v2.Create(ctx, port("v2", "c", map[string]interface{}{"host": "h", "port": "1"}), metav1.CreateOptions{}); err != nil {
		t.Fatalf("create c: %v", err)
	}
	c, err := v2.Get(ctx, "c", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("get c: %v", err)
	}
	c.SetLabels(map[string]string{"fail": "true"})
	if _, err := v2.Update(ctx, c, metav1.UpdateOptions{}); err != nil {
		t.Fatalf("label c: %v", err)
	}
	_, err = v1.Get(ctx, "c", metav1.GetOptions{})
	if !apierrors.IsInternalError(err) || !strings.Contains(err.Error(), "conversion webhook for stable.example.com/v2, Kind=Port failed: refusing c") {
		t.Errorf("get c in v1: got %v, want a 500 from the conversion webhook", err)
	}
}
