package integration

import (
	"context"
	"strings"
	"testing"
	"time"

	svmv1 "k8s.io/api/storagemigration/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/utils/ptr"

	"skiff/internal/server/servertest"
)

// TestStorageVersionMigrationAPI covers storagemigration.k8s.io/v1 as the
// StorageVersionMigration CRUD conformance spec uses it: discovery, a
// strict create, label updates while the spec stays as it was, status
// updates and every patch type on the resource and on /status, watch,
// list and deletecollection by label, the table and the OpenAPI schema.
func TestStorageVersionMigrationAPI(t *testing.T) {
	ts := servertest.Start(t, nil)
	ctx := context.Background()
	list, err := ts.Client.Discovery().ServerResourcesForGroupVersion("storagemigration.k8s.io/v1")
	if err != nil {
		t.Fatal(err)
	}
	found := map[string]metav1.APIResource{}
	for _, r := range list.APIResources {
		found[r.Name] = r
	}
	if r := found["storageversionmigrations"]; r.Namespaced || r.Kind != "StorageVersionMigration" || len(r.Verbs) != 8 {
		t.Errorf("discovery: %+v", r)
	}
	if r, ok := found["storageversionmigrations/status"]; !ok || strings.Join(r.Verbs, ",") != "get,patch,update" {
		t.Errorf("discovery of /status: %+v", r)
	}

	svms := ts.Dynamic(t).Resource(svmv1.SchemeGroupVersion.WithResource("storageversionmigrations"))
	w, err := svms.Watch(ctx, metav1.ListOptions{LabelSelector: "e2e=svm"})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	initial := func() *unstructured.Unstructured {
		return &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": "storagemigration.k8s.io/v1", "kind": "StorageVersionMigration",
			"metadata": map[string]any{"name": "test", "labels": map[string]any{"e2e": "svm"}},
			"spec":     map[string]any{"resource": map[string]any{"group": "", "resource": "foo"}},
			"status":   map[string]any{"resourceVersion": "12"},
		}}
	}
	obj, err := svms.Create(ctx, initial(), metav1.CreateOptions{FieldValidation: "Strict"})
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	if rv, _, _ := unstructured.NestedString(obj.Object, "status", "resourceVersion"); rv != "" {
		t.Errorf("create kept the status: %v", obj.Object["status"])
	}

	// The spec never changes; labels do.
	bad := obj.DeepCopy()
	_ = unstructured.SetNestedField(bad.Object, "bar", "spec", "resource", "resource")
	if _, err := svms.Update(ctx, bad, metav1.UpdateOptions{}); !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), "spec: Invalid value") {
		t.Errorf("spec update: %v", err)
	}
	obj.SetLabels(map[string]string{"e2e": "svm", "test.storagemigration.example.com": "test"})
	if obj, err = svms.Update(ctx, obj, metav1.UpdateOptions{}); err != nil {
		t.Fatalf("label update: %v", err)
	}

	// Status: a condition of the client's own, then the resourceVersion.
	cond := map[string]any{"type": "TestCondition", "status": "True", "reason": "TestReason", "message": "TestMessage", "lastTransitionTime": "2026-01-01T00:00:00Z"}
	_ = unstructured.SetNestedSlice(obj.Object, []any{cond}, "status", "conditions")
	_ = unstructured.SetNestedField(obj.Object, "12", "status", "resourceVersion")
	obj.SetLabels(map[string]string{"e2e": "svm"})
	if obj, err = svms.UpdateStatus(ctx, obj, metav1.UpdateOptions{}); err != nil {
		t.Fatalf("status update: %v", err)
	}
	if conds, _, _ := unstructured.NestedSlice(obj.Object, "status", "conditions"); len(conds) != 1 || obj.GetLabels()["test.storagemigration.example.com"] != "test" {
		t.Errorf("after the status update: %v, labels %v", conds, obj.GetLabels())
	}
	_ = unstructured.SetNestedField(obj.Object, "13", "status", "resourceVersion")
	if _, err := svms.UpdateStatus(ctx, obj, metav1.UpdateOptions{}); !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), "status.resourceVersion: Invalid value: \"13\": field is immutable") {
		t.Errorf("resourceVersion changed: %v", err)
	}
	if got, err := svms.Get(ctx, "test", metav1.GetOptions{}, "status"); err != nil || got.GetResourceVersion() != obj.GetResourceVersion() {
		t.Errorf("get status: %v, %v", got, err)
	}

	specPatches := []struct {
		pt   types.PatchType
		data string
	}{
		{types.StrategicMergePatchType, `{"metadata": {"labels": {"test.storagemigration.example.com": "test"}}}`},
		{types.ApplyPatchType, `{"apiVersion": "storagemigration.k8s.io/v1", "kind": "StorageVersionMigration", "metadata": {"name": "test", "labels": {"test.storagemigration.example.com": "test"}}}`},
		{types.MergePatchType, `{"metadata": {"labels": {"test.storagemigration.example.com": "test"}}}`},
		{types.JSONPatchType, `[{"op": "add", "path": "/metadata/labels/test.storagemigration.example.com", "value": "test"}]`},
	}
	recreate := func() {
		t.Helper()
		if err := svms.Delete(ctx, "test", metav1.DeleteOptions{}); err != nil {
			t.Fatalf("delete: %v", err)
		}
		if _, err := svms.Create(ctx, initial(), metav1.CreateOptions{}); err != nil {
			t.Fatalf("create again: %v", err)
		}
	}
	for _, p := range specPatches {
		recreate()
		got, err := svms.Patch(ctx, "test", p.pt, []byte(p.data), metav1.PatchOptions{FieldValidation: "Strict", FieldManager: "test-apply", Force: ptr.To(p.pt == types.ApplyPatchType)})
		if err != nil || got.GetLabels()["test.storagemigration.example.com"] != "test" {
			t.Fatalf("%s patch: %v, %v", p.pt, got, err)
		}
	}
	statusCond := `{"type": "TestCondition", "status": "True", "reason": "TestReason", "message": "TestMessage", "lastTransitionTime": "2026-01-01T00:00:00Z"}`
	statusPatches := []struct {
		pt   types.PatchType
		data string
	}{
		{types.StrategicMergePatchType, `{"status": {"conditions": [` + statusCond + `]}}`},
		{types.ApplyPatchType, `{"apiVersion": "storagemigration.k8s.io/v1", "kind": "StorageVersionMigration", "metadata": {"name": "test"}, "status": {"conditions": [` + statusCond + `]}}`},
		{types.MergePatchType, `{"status": {"conditions": [` + statusCond + `]}}`},
		{types.JSONPatchType, `[{"op": "add", "path": "/status/conditions", "value": [` + statusCond + `]}]`},
	}
	for _, p := range statusPatches {
		recreate()
		got, err := svms.Patch(ctx, "test", p.pt, []byte(p.data), metav1.PatchOptions{FieldValidation: "Strict", FieldManager: "test-apply", Force: ptr.To(p.pt == types.ApplyPatchType)}, "status")
		if err != nil {
			t.Fatalf("%s status patch: %v", p.pt, err)
		}
		if conds, _, _ := unstructured.NestedSlice(got.Object, "status", "conditions"); len(conds) != 1 {
			t.Errorf("%s status patch: conditions %v", p.pt, conds)
		}
	}
	if _, err := svms.Patch(ctx, "test", types.MergePatchType, []byte(`{"spec": {"resource": {"resource": "bar"}}}`), metav1.PatchOptions{}, "status"); err != nil {
		t.Errorf("a status patch of the spec: %v", err)
	} else if got, _ := svms.Get(ctx, "test", metav1.GetOptions{}); got != nil {
		if r, _, _ := unstructured.NestedString(got.Object, "spec", "resource", "resource"); r != "foo" {
			t.Errorf("/status changed the spec to %q", r)
		}
	}

	items, err := svms.List(ctx, metav1.ListOptions{LabelSelector: "e2e=svm"})
	if err != nil || len(items.Items) != 1 {
		t.Fatalf("list: %v, %v", items, err)
	}
	if err := svms.DeleteCollection(ctx, metav1.DeleteOptions{}, metav1.ListOptions{LabelSelector: "e2e=svm"}); err != nil {
		t.Fatalf("deletecollection: %v", err)
	}
	if _, err := svms.Get(ctx, "test", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("after deletecollection: %v", err)
	}
	// Every create, update and delete reached the watch, the last
	// delete last.
	var seen []watch.EventType
	timeout := time.After(10 * time.Second)
	for len(seen) == 0 || seen[len(seen)-1] != watch.Deleted || len(seen) < 2+2*(len(specPatches)+len(statusPatches)) {
		select {
		case e := <-w.ResultChan():
			seen = append(seen, e.Type)
		case <-timeout:
			t.Fatalf("watch events: %v", seen)
		}
	}

	// Validation of the spec on create.
	invalid := initial()
	_ = unstructured.SetNestedField(invalid.Object, "", "spec", "resource", "resource")
	if _, err := svms.Create(ctx, invalid, metav1.CreateOptions{}); !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), "spec.resource.resource: Required value") {
		t.Errorf("create without a resource: %v", err)
	}

	doc, err := ts.Client.Discovery().RESTClient().Get().AbsPath("/openapi/v3/apis/storagemigration.k8s.io/v1").DoRaw(ctx)
	if err != nil || !strings.Contains(string(doc), `"io.k8s.api.storagemigration.v1.StorageVersionMigrationStatus"`) ||
		!strings.Contains(string(doc), `/apis/storagemigration.k8s.io/v1/storageversionmigrations/{name}/status`) {
		t.Errorf("openapi v3: %v, %.300s", err, doc)
	}
}
