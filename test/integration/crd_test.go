package integration

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/cli-runtime/pkg/printers"
	"k8s.io/client-go/dynamic/dynamicinformer"
	"k8s.io/client-go/tools/cache"
	"k8s.io/utils/ptr"

	"skiff/internal/server/servertest"
)

var (
	crdGVR    = apiextensionsv1.SchemeGroupVersion.WithResource("customresourcedefinitions")
	widgetGVR = schema.GroupVersionResource{Group: "example.com", Version: "v1", Resource: "widgets"}
)

// widgetCRD is a namespaced CRD with two versions, a schema with defaults
// and constraints, printer columns and the status and scale subresources.
func widgetCRD() *apiextensionsv1.CustomResourceDefinition {
	min1, max10 := 1.0, 10.0
	specSchema := apiextensionsv1.JSONSchemaProps{
		Type:     "object",
		Required: []string{"color"},
		XValidations: apiextensionsv1.ValidationRules{
			{Rule: "self.size <= 5 || self.color == 'red'", Message: "big widgets must be red"},
		},
		Properties: map[string]apiextensionsv1.JSONSchemaProps{
			"color": {Type: "string", Enum: []apiextensionsv1.JSON{{Raw: []byte(`"red"`)}, {Raw: []byte(`"blue"`)}}},
			"size":  {Type: "integer", Minimum: &min1, Maximum: &max10, Default: &apiextensionsv1.JSON{Raw: []byte(`3`)}},
			"label": {Type: "string", Pattern: "^[a-z]+$", XValidations: apiextensionsv1.ValidationRules{
				{Rule: "self == oldSelf", Message: "label is immutable"},
			}},
			"replicas": {Type: "integer"},
			"tags": {Type: "array", XListType: ptr.To("set"), Items: &apiextensionsv1.JSONSchemaPropsOrArray{
				Schema: &apiextensionsv1.JSONSchemaProps{Type: "string"}}},
		},
	}
	statusSchema := apiextensionsv1.JSONSchemaProps{Type: "object", Properties: map[string]apiextensionsv1.JSONSchemaProps{
		"replicas": {Type: "integer"}, "selector": {Type: "string"},
	}}
	version := func(name string, storage bool) apiextensionsv1.CustomResourceDefinitionVersion {
		return apiextensionsv1.CustomResourceDefinitionVersion{
			Name: name, Served: true, Storage: storage,
			Schema: &apiextensionsv1.CustomResourceValidation{OpenAPIV3Schema: &apiextensionsv1.JSONSchemaProps{
				Type: "object", Required: []string{"spec"},
				Properties: map[string]apiextensionsv1.JSONSchemaProps{"spec": specSchema, "status": statusSchema},
			}},
			Subresources: &apiextensionsv1.CustomResourceSubresources{
				Status: &apiextensionsv1.CustomResourceSubresourceStatus{},
				Scale: &apiextensionsv1.CustomResourceSubresourceScale{
					SpecReplicasPath: ".spec.replicas", StatusReplicasPath: ".status.replicas", LabelSelectorPath: ptr.To(".status.selector"),
				},
			},
			AdditionalPrinterColumns: []apiextensionsv1.CustomResourceColumnDefinition{
				{Name: "Color", Type: "string", JSONPath: ".spec.color"},
				{Name: "Size", Type: "integer", JSONPath: ".spec.size"},
				{Name: "Age", Type: "date", JSONPath: ".metadata.creationTimestamp"},
			},
		}
	}
	return &apiextensionsv1.CustomResourceDefinition{
		TypeMeta:   metav1.TypeMeta{APIVersion: "apiextensions.k8s.io/v1", Kind: "CustomResourceDefinition"},
		ObjectMeta: metav1.ObjectMeta{Name: "widgets.example.com"},
		Spec: apiextensionsv1.CustomResourceDefinitionSpec{
			Group: "example.com", Scope: apiextensionsv1.NamespaceScoped,
			Names:    apiextensionsv1.CustomResourceDefinitionNames{Plural: "widgets", Kind: "Widget", ShortNames: []string{"wd"}},
			Versions: []apiextensionsv1.CustomResourceDefinitionVersion{version("v1", true), version("v1beta1", false)},
		},
	}
}

func toUnstructured(t *testing.T, obj runtime.Object) *unstructured.Unstructured {
	t.Helper()
	m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
	if err != nil {
		t.Fatal(err)
	}
	return &unstructured.Unstructured{Object: m}
}

func widget(name string, spec map[string]interface{}) *unstructured.Unstructured {
	return &unstructured.Unstructured{Object: map[string]interface{}{
		"apiVersion": "example.com/v1", "kind": "Widget",
		"metadata": map[string]interface{}{"name": name},
		"spec":     spec,
	}}
}

// causes returns the field paths of a 422's causes, sorted.
func causes(err error) []string {
	var out []string
	if st, ok := err.(apierrors.APIStatus); ok && st.Status().Details != nil {
		for _, c := range st.Status().Details.Causes {
			out = append(out, c.Field)
		}
	}
	sort.Strings(out)
	return out
}

func TestCustomResources(t *testing.T) {
	ts := servertest.Start(t, nil)
	ctx := context.Background()
	dyn := ts.Dynamic(t)
	cs := ts.Client

	if _, err := dyn.Resource(crdGVR).Create(ctx, toUnstructured(t, widgetCRD()), metav1.CreateOptions{}); err != nil {
		t.Fatalf("create crd: %v", err)
	}
	servertest.Wait(t, "widgets in discovery", func(context.Context) (bool, error) {
		list, err := cs.Discovery().ServerResourcesForGroupVersion("example.com/v1")
		if err != nil {
			return false, err
		}
		for _, r := range list.APIResources {
			if r.Name == "widgets" {
				return true, nil
			}
		}
		return false, nil
	})
	servertest.Wait(t, "crd established", func(context.Context) (bool, error) {
		u, err := dyn.Resource(crdGVR).Get(ctx, "widgets.example.com", metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		var crd apiextensionsv1.CustomResourceDefinition
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, &crd); err != nil {
			return false, err
		}
		got := map[string]string{}
		for _, c := range crd.Status.Conditions {
			got[string(c.Type)] = string(c.Status)
		}
		return got["Established"] == "True" && got["NamesAccepted"] == "True" &&
			len(crd.Finalizers) == 1 && crd.Finalizers[0] == apiextensionsv1.CustomResourceCleanupFinalizer, nil
	})

	widgets := dyn.Resource(widgetGVR).Namespace("default")

	// A dynamic informer sees what is created.
	factory := dynamicinformer.NewFilteredDynamicSharedInformerFactory(dyn, 0, "default", nil)
	informer := factory.ForResource(widgetGVR).Informer()
	ictx, cancel := context.WithCancel(ctx)
	defer cancel()
	factory.Start(ictx.Done())
	if !cache.WaitForCacheSync(ictx.Done(), informer.HasSynced) {
		t.Fatal("informer did not sync")
	}

	// Defaults, pruning, and status dropped on create.
	in := widget("w1", map[string]interface{}{"color": "red", "unknown": "x", "replicas": int64(1)})
	in.Object["status"] = map[string]interface{}{"replicas": int64(7)}
	w1, err := widgets.Create(ctx, in, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create widget: %v", err)
	}
	wantSpec := map[string]interface{}{"color": "red", "size": int64(3), "replicas": int64(1)}
	if diff := cmp.Diff(wantSpec, w1.Object["spec"]); diff != "" {
		t.Errorf("created spec (-want +got):\n%s", diff)
	}
	if _, has := w1.Object["status"]; has {
		t.Errorf("status kept on create: %v", w1.Object["status"])
	}
	if w1.GetGeneration() != 1 {
		t.Errorf("generation = %d, want 1", w1.GetGeneration())
	}
	// Strict field validation names the unknown fields instead of pruning.
	strict := widget("strict", map[string]interface{}{"color": "red", "bogus": int64(1)})
	if _, err := widgets.Create(ctx, strict, metav1.CreateOptions{FieldValidation: "Strict"}); !apierrors.IsBadRequest(err) ||
		!strings.Contains(err.Error(), `unknown field "spec.bogus"`) {
		t.Errorf("strict create with an unknown field: got %v, want 400 naming spec.bogus", err)
	}

	servertest.Wait(t, "informer sees w1", func(context.Context) (bool, error) {
		_, exists, err := informer.GetStore().GetByKey("default/w1")
		return exists, err
	})

	// Invalid objects answer 422 naming the fields.
	invalidTests := []struct {
		name string
		spec map[string]interface{}
		want []string
	}{
		{name: "out of range, not in enum, pattern", spec: map[string]interface{}{"color": "green", "size": int64(20), "label": "ABC"},
			want: []string{"spec.color", "spec.label", "spec.size"}},
		{name: "required", spec: map[string]interface{}{"size": int64(2)}, want: []string{"spec.color"}},
		{name: "duplicate set item", spec: map[string]interface{}{"color": "red", "tags": []interface{}{"a", "a"}}, want: []string{"spec.tags[1]"}},
		{name: "wrong type", spec: map[string]interface{}{"color": "red", "size": "big"}, want: []string{"spec.size"}},
		{name: "cel rule", spec: map[string]interface{}{"color": "blue", "size": int64(8)}, want: []string{"spec"}},
	}
	for _, tt := range invalidTests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := widgets.Create(ctx, widget("bad", tt.spec), metav1.CreateOptions{})
			if !apierrors.IsInvalid(err) {
				t.Fatalf("create: got %v, want 422 Invalid", err)
			}
			if diff := cmp.Diff(tt.want, causes(err)); diff != "" {
				t.Errorf("causes (-want +got):\n%s", diff)
			}
		})
	}

	// CEL transition rules see the old object.
	w4, err := widgets.Create(ctx, widget("w4", map[string]interface{}{"color": "red", "label": "abc"}), metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create w4: %v", err)
	}
	_ = unstructured.SetNestedField(w4.Object, "xyz", "spec", "label")
	if _, err := widgets.Update(ctx, w4, metav1.UpdateOptions{}); !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), "label is immutable") {
		t.Errorf("changing an immutable label: got %v, want 422 label is immutable", err)
	}
	if err := widgets.Delete(ctx, "w4", metav1.DeleteOptions{}); err != nil {
		t.Fatalf("delete w4: %v", err)
	}

	// Status only through /status; generation follows spec changes only.
	w1.Object["status"] = map[string]interface{}{"replicas": int64(1), "selector": "app=w1"}
	st, err := widgets.UpdateStatus(ctx, w1, metav1.UpdateOptions{})
	if err != nil {
		t.Fatalf("update status: %v", err)
	}
	if st.GetGeneration() != 1 {
		t.Errorf("generation after status update = %d, want 1", st.GetGeneration())
	}
	st.Object["status"] = map[string]interface{}{"replicas": int64(99)}
	_ = unstructured.SetNestedField(st.Object, "blue", "spec", "color")
	up, err := widgets.Update(ctx, st, metav1.UpdateOptions{})
	if err != nil {
		t.Fatalf("update: %v", err)
	}
	if got, _, _ := unstructured.NestedInt64(up.Object, "status", "replicas"); got != 1 {
		t.Errorf("status.replicas after main update = %d, want 1", got)
	}
	if up.GetGeneration() != 2 {
		t.Errorf("generation after spec change = %d, want 2", up.GetGeneration())
	}

	// Scale.
	sc, err := widgets.Get(ctx, "w1", metav1.GetOptions{}, "scale")
	if err != nil {
		t.Fatalf("get scale: %v", err)
	}
	if got, _, _ := unstructured.NestedString(sc.Object, "status", "selector"); got != "app=w1" {
		t.Errorf("scale selector = %q, want app=w1", got)
	}
	_ = unstructured.SetNestedField(sc.Object, int64(5), "spec", "replicas")
	if _, err := widgets.Update(ctx, sc, metav1.UpdateOptions{}, "scale"); err != nil {
		t.Fatalf("update scale: %v", err)
	}
	got, err := widgets.Get(ctx, "w1", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if n, _, _ := unstructured.NestedInt64(got.Object, "spec", "replicas"); n != 5 {
		t.Errorf("spec.replicas after scale = %d, want 5", n)
	}

	// Server-side apply with two managers and a conflict.
	applyA := widget("w2", map[string]interface{}{"color": "red"})
	if _, err := widgets.Apply(ctx, "w2", applyA, metav1.ApplyOptions{FieldManager: "alice"}); err != nil {
		t.Fatalf("apply alice: %v", err)
	}
	applyB := widget("w2", map[string]interface{}{"size": int64(4), "color": "red"})
	applyB.Object["spec"] = map[string]interface{}{"size": int64(4)}
	w2, err := widgets.Apply(ctx, "w2", applyB, metav1.ApplyOptions{FieldManager: "bob"})
	if err != nil {
		t.Fatalf("apply bob: %v", err)
	}
	var managers []string
	for _, mf := range w2.GetManagedFields() {
		managers = append(managers, mf.Manager)
	}
	sort.Strings(managers)
	if diff := cmp.Diff([]string{"alice", "bob"}, managers); diff != "" {
		t.Errorf("managers (-want +got):\n%s", diff)
	}
	conflict := widget("w2", map[string]interface{}{"color": "blue"})
	if _, err := widgets.Apply(ctx, "w2", conflict, metav1.ApplyOptions{FieldManager: "bob"}); !apierrors.IsConflict(err) {
		t.Errorf("conflicting apply: got %v, want 409", err)
	}
	if _, err := widgets.Patch(ctx, "w2", types.StrategicMergePatchType, []byte(`{"spec":{"size":5}}`), metav1.PatchOptions{}); !apierrors.IsUnsupportedMediaType(err) {
		t.Errorf("strategic merge patch: got %v, want 415", err)
	}

	// Other versions: None conversion rewrites apiVersion, objects are
	// stored as the storage version whatever version wrote them.
	betaWidgets := dyn.Resource(schema.GroupVersionResource{Group: "example.com", Version: "v1beta1", Resource: "widgets"}).Namespace("default")
	b1, err := betaWidgets.Get(ctx, "w1", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("get v1beta1: %v", err)
	}
	if b1.GetAPIVersion() != "example.com/v1beta1" {
		t.Errorf("v1beta1 apiVersion = %q", b1.GetAPIVersion())
	}
	b3 := widget("w3", map[string]interface{}{"color": "blue"})
	b3.SetAPIVersion("example.com/v1beta1")
	if _, err := betaWidgets.Create(ctx, b3, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create v1beta1: %v", err)
	}
	w3, err := widgets.Get(ctx, "w3", metav1.GetOptions{})
	if err != nil || w3.GetAPIVersion() != "example.com/v1" {
		t.Errorf("get v1beta1-created widget as v1: %v, %v", err, w3)
	}
	if err := widgets.Delete(ctx, "w3", metav1.DeleteOptions{}); err != nil {
		t.Fatalf("delete w3: %v", err)
	}
	list, err := widgets.List(ctx, metav1.ListOptions{FieldSelector: "metadata.name=w2"})
	if err != nil {
		t.Fatal(err)
	}
	if len(list.Items) != 1 || list.Items[0].GetName() != "w2" {
		t.Errorf("field selector list = %d items", len(list.Items))
	}

	// kubectl's Table.
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, ts.Config.Host+"/apis/example.com/v1/namespaces/default/widgets", nil)
	req.Header.Set("Accept", "application/json;as=Table;v=v1;g=meta.k8s.io")
	resp, err := rawClient(t, ts.Config, false).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var table metav1.Table
	if err := json.NewDecoder(resp.Body).Decode(&table); err != nil {
		t.Fatal(err)
	}
	var cols []string
	for _, c := range table.ColumnDefinitions {
		cols = append(cols, c.Name)
	}
	if diff := cmp.Diff([]string{"Name", "Color", "Size", "Age"}, cols); diff != "" {
		t.Errorf("table columns (-want +got):\n%s", diff)
	}
	if len(table.Rows) != 2 || table.Rows[0].Cells[0] != "w1" || table.Rows[0].Cells[1] != "blue" || table.Rows[0].Cells[2] != float64(3) {
		t.Errorf("table rows = %v", table.Rows)
	}
	// Printed as kubectl prints it (ages vary, so only the other columns).
	var out bytes.Buffer
	if err := printers.NewTablePrinter(printers.PrintOptions{}).PrintObj(&table, &out); err != nil {
		t.Fatal(err)
	}
	var printed []string
	for _, line := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		f := strings.Fields(line)
		printed = append(printed, strings.Join(f[:len(f)-1], " "))
	}
	if diff := cmp.Diff([]string{"NAME COLOR SIZE", "w1 blue 3", "w2 red 4"}, printed); diff != "" {
		t.Errorf("kubectl output (-want +got):\n%s", diff)
	}

	cancel() // the informer would log the resource going away

	// Deleting the CRD deletes its objects and stops serving it.
	if err := dyn.Resource(crdGVR).Delete(ctx, "widgets.example.com", metav1.DeleteOptions{}); err != nil {
		t.Fatalf("delete crd: %v", err)
	}
	servertest.Wait(t, "crd gone", func(context.Context) (bool, error) {
		_, err := dyn.Resource(crdGVR).Get(ctx, "widgets.example.com", metav1.GetOptions{})
		return apierrors.IsNotFound(err), nil
	})
	servertest.Wait(t, "widgets unserved", func(context.Context) (bool, error) {
		_, err := cs.Discovery().ServerResourcesForGroupVersion("example.com/v1")
		return apierrors.IsNotFound(err), nil
	})
	// Recreating the CRD finds no old objects.
	if _, err := dyn.Resource(crdGVR).Create(ctx, toUnstructured(t, widgetCRD()), metav1.CreateOptions{}); err != nil {
		t.Fatalf("recreate crd: %v", err)
	}
	servertest.Wait(t, "widgets served again, empty", func(context.Context) (bool, error) {
		l, err := widgets.List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, nil
		}
		return len(l.Items) == 0, nil
	})
}
