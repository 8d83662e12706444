package integration

import (
	"context"
	"encoding/pem"
	"net/http/httptest"
	"testing"
	"time"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/watch"

	"skiff/internal/server/servertest"
)

// TestCustomResourceFieldSelectorWatch: a watch selects on the fields of
// the version it asks for, though objects are stored in another one and
// converted by a webhook, as the CustomResourceFieldSelectors conformance
// spec watches.
func TestCustomResourceFieldSelectorWatch(t *testing.T) {
	hook := &portWebhook{}
	whs := httptest.NewTLSServer(hook)
	t.Cleanup(whs.Close)
	ca := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: whs.Certificate().Raw})
	ts := servertest.Start(t, nil)
	ctx := context.Background()
	dyn := ts.Dynamic(t)
	crd := portsCRD(whs.URL+"/convert", ca, "v2")
	crd.Spec.Versions[0].SelectableFields = []apiextensionsv1.SelectableField{{JSONPath: ".spec.hostPort"}}
	crd.Spec.Versions[1].SelectableFields = []apiextensionsv1.SelectableField{{JSONPath: ".spec.host"}}
	if _, err := dyn.Resource(crdGVR).Create(ctx, toUnstructured(t, crd), metav1.CreateOptions{}); err != nil {
		t.Fatalf("create crd: %v", err)
	}
	gvr := func(v string) schema.GroupVersionResource {
		return schema.GroupVersionResource{Group: "stable.example.com", Version: v, Resource: "ports"}
	}
	v1, v2 := dyn.Resource(gvr("v1")).Namespace("default"), dyn.Resource(gvr("v2")).Namespace("default")
	servertest.Wait(t, "ports served", func(context.Context) (bool, error) {
		_, err := v1.List(ctx, metav1.ListOptions{FieldSelector: "spec.hostPort=x"})
		return err == nil, nil
	})
	w, err := v1.Watch(ctx, metav1.ListOptions{FieldSelector: "spec.hostPort=example:9090"})
	if err != nil {
		t.Fatalf("watch: %v", err)
	}
	defer w.Stop()
	for _, name := range []string{"other", "b"} {
		port := "9090"
		if name == "other" {
			port = "1"
		}
		if _, err := v2.Create(ctx, &unstructured.Unstructured{Object: map[string]interface{}{
			"apiVersion": "stable.example.com/v2", "kind": "Port",
			"metadata": map[string]interface{}{"name": name}, "spec": map[string]interface{}{"host": "example", "port": port},
		}}, metav1.CreateOptions{}); err != nil {
			t.Fatalf("create %s: %v", name, err)
		}
	}
	select {
	case ev := <-w.ResultChan():
		u, ok := ev.Object.(*unstructured.Unstructured)
		if !ok || ev.Type != watch.Added || u.GetName() != "b" || u.GetAPIVersion() != "stable.example.com/v1" {
			t.Errorf("watch event %s %v, want ADDED of b in v1", ev.Type, ev.Object)
		}
	case <-time.After(servertest.WaitTimeout):
		t.Fatal("no watch event for b")
	}
}
