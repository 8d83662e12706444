package storageversionmigrator_test

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	svmv1 "k8s.io/api/storagemigration/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	testingclock "k8s.io/utils/clock/testing"
	"k8s.io/utils/ptr"

	"skiff/internal/controller/storageversionmigrator"
	"skiff/internal/server/servertest"
)

func TestMain(m *testing.M) { servertest.Main(m) }

// protobufMagic starts every object the API server stores.
var protobufMagic = []byte("k8s\x00")

// restore rewrites the stored bytes of key as an older API server might
// have left them: the same object, with a field this one does not know
// appended (field 99, varint 1), which decoding skips and encoding drops.
func restore(t *testing.T, ts *servertest.Server, key string) []byte {
	t.Helper()
	ctx := context.Background()
	kv, err := ts.Store().Get(ctx, key)
	if err != nil {
		t.Fatalf("get %s: %v", key, err)
	}
	if !bytes.HasPrefix(kv.Value, protobufMagic) {
		t.Fatalf("%s is not stored as protobuf", key)
	}
	var u runtime.Unknown
	if err := u.Unmarshal(kv.Value[len(protobufMagic):]); err != nil {
		t.Fatalf("decode %s: %v", key, err)
	}
	u.Raw = append(u.Raw, 0x98, 0x06, 0x01)
	data, err := u.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	data = append(append([]byte(nil), protobufMagic...), data...)
	if _, _, err := ts.Store().Update(ctx, key, data, kv.ModRevision); err != nil {
		t.Fatalf("rewrite %s: %v", key, err)
	}
	return data
}

func stored(t *testing.T, ts *servertest.Server, key string) []byte {
	t.Helper()
	kv, err := ts.Store().Get(context.Background(), key)
	if err != nil {
		t.Fatalf("get %s: %v", key, err)
	}
	return kv.Value
}

func createSVM(t *testing.T, ts *servertest.Server, name string, gr metav1.GroupResource) {
	t.Helper()
	_, err := ts.Client.StoragemigrationV1().StorageVersionMigrations().Create(context.Background(), &svmv1.StorageVersionMigration{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec:       svmv1.StorageVersionMigrationSpec{Resource: gr},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create migration %s: %v", name, err)
	}
}

// waitFinished waits for the migration to succeed or fail and for Running
// to turn False, and returns it.
func waitFinished(t *testing.T, ts *servertest.Server, name string) *svmv1.StorageVersionMigration {
	t.Helper()
	var svm *svmv1.StorageVersionMigration
	servertest.Wait(t, "migration "+name+" to finish", func(ctx context.Context) (bool, error) {
		var err error
		svm, err = ts.Client.StoragemigrationV1().StorageVersionMigrations().Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		c := svm.Status.Conditions
		done := meta.IsStatusConditionTrue(c, string(svmv1.MigrationSucceeded)) || meta.IsStatusConditionTrue(c, string(svmv1.MigrationFailed))
		return done && meta.IsStatusConditionFalse(c, string(svmv1.MigrationRunning)), nil
	})
	return svm
}

func condition(svm *svmv1.StorageVersionMigration, t svmv1.MigrationConditionType) metav1.Condition {
	if c := meta.FindStatusCondition(svm.Status.Conditions, string(t)); c != nil {
		return *c
	}
	return metav1.Condition{}
}

// TestMigratesConfigMaps migrates configmaps, one of which is stored in an
// older form: that one is written again, in the current encoding; the
// others, already current, are left as they are.
func TestMigratesConfigMaps(t *testing.T) {
	ts := servertest.Start(t, nil)
	ctx := context.Background()
	rvs := map[string]string{}
	for i := range 3 {
		cm, err := ts.Client.CoreV1().ConfigMaps("default").Create(ctx, &corev1.ConfigMap{
			ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("cm-%d", i)},
			Data:       map[string]string{"k": "v"},
		}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		rvs[cm.Name] = cm.ResourceVersion
	}
	canonical := stored(t, ts, "/registry/configmaps/default/cm-1")
	old := restore(t, ts, "/registry/configmaps/default/cm-1")
	cm, err := ts.Client.CoreV1().ConfigMaps("default").Get(ctx, "cm-1", metav1.GetOptions{})
	if err != nil || cm.Data["k"] != "v" {
		t.Fatalf("read the older form: %+v, %v", cm, err)
	}
	rvs["cm-1"] = cm.ResourceVersion

	ts.RunController(t, storageversionmigrator.New, nil)
	createSVM(t, ts, "configmaps", metav1.GroupResource{Resource: "configmaps"})
	svm := waitFinished(t, ts, "configmaps")

	if c := condition(svm, svmv1.MigrationSucceeded); c.Status != metav1.ConditionTrue || c.Reason != "StorageVersionMigrationSucceeded" || c.Message != "Migration completed" {
		t.Errorf("Succeeded: %+v", c)
	}
	if c := condition(svm, svmv1.MigrationRunning); c.Reason != "MigrationCompleted" || c.Message != "Migration completed" {
		t.Errorf("Running: %+v", c)
	}
	if condition(svm, svmv1.MigrationFailed).Type != "" {
		t.Errorf("Failed condition set: %+v", svm.Status.Conditions)
	}
	if svm.Status.ResourceVersion == "" {
		t.Error("no status.resourceVersion")
	}

	after := stored(t, ts, "/registry/configmaps/default/cm-1")
	if bytes.Equal(after, old) || !bytes.Equal(after, canonical) {
		t.Errorf("cm-1 was not stored again in the current encoding:\nbefore %q\nafter  %q\nwant   %q", old, after, canonical)
	}
	for name, rv := range rvs {
		cm, err := ts.Client.CoreV1().ConfigMaps("default").Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if rewritten := cm.ResourceVersion != rv; rewritten != (name == "cm-1") {
			t.Errorf("%s: resourceVersion %s -> %s", name, rv, cm.ResourceVersion)
		}
		for _, f := range cm.ManagedFields {
			if f.Manager == storageversionmigrator.FieldManager {
				t.Errorf("%s: the migrator's no-op patch owns fields: %+v", name, f)
			}
		}
	}

	// The table kubectl shows.
	out, err := ts.Client.StoragemigrationV1().RESTClient().Get().Resource("storageversionmigrations").
		SetHeader("Accept", "application/json;as=Table;v=v1;g=meta.k8s.io").DoRaw(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(out), `"cells":["configmaps","configmaps","Succeeded"]`) {
		t.Errorf("table: %s", out)
	}
}

// TestUnknownResourceFails: a migration of a resource nobody serves runs,
// is looked for during a minute, then fails; its status writes leave
// other writers' conditions alone.
func TestUnknownResourceFails(t *testing.T) {
	ts := servertest.Start(t, nil)
	ctx := context.Background()
	clk := testingclock.NewFakeClock(time.Now())
	ts.RunController(t, storageversionmigrator.New, clk)
	createSVM(t, ts, "foo", metav1.GroupResource{Resource: "foo"})
	api := ts.Client.StoragemigrationV1().StorageVersionMigrations()
	servertest.Wait(t, "the migration to run", func(ctx context.Context) (bool, error) {
		svm, err := api.Get(ctx, "foo", metav1.GetOptions{})
		return err == nil && meta.IsStatusConditionTrue(svm.Status.Conditions, string(svmv1.MigrationRunning)), err
	})
	svm, err := api.Get(ctx, "foo", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	svm.Status.Conditions = append(svm.Status.Conditions, metav1.Condition{
		Type: "TestCondition", Status: metav1.ConditionTrue, Reason: "TestReason", Message: "TestMessage",
		LastTransitionTime: metav1.NewTime(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)),
	})
	if _, err := api.UpdateStatus(ctx, svm, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	servertest.Wait(t, "the rediscovery timer", func(context.Context) (bool, error) { return clk.HasWaiters(), nil })
	if svm, err := api.Get(ctx, "foo", metav1.GetOptions{}); err != nil || meta.IsStatusConditionTrue(svm.Status.Conditions, string(svmv1.MigrationFailed)) {
		t.Fatalf("failed before its minute: %+v, %v", svm, err)
	}
	clk.Step(61 * time.Second)
	svm = waitFinished(t, ts, "foo")
	if c := condition(svm, svmv1.MigrationFailed); c.Status != metav1.ConditionTrue || c.Reason != "StorageVersionMigrationFailed" || c.Message != "resource does not exist in discovery" {
		t.Errorf("Failed: %+v", c)
	}
	if condition(svm, "TestCondition").Status != metav1.ConditionTrue {
		t.Errorf("the test's condition went away: %+v", svm.Status.Conditions)
	}
	if svm.Status.ResourceVersion != "" {
		t.Errorf("status.resourceVersion %q for a resource not served", svm.Status.ResourceVersion)
	}
}

// TestMigratesCustomResources moves widgets stored as v1 to v2 after the
// CRD's storage version changed, then trims the CRD's stored versions.
func TestMigratesCustomResources(t *testing.T) {
	ts := servertest.Start(t, nil)
	ctx := context.Background()
	dyn := ts.Dynamic(t)
	crdGVR := apiextensionsv1.SchemeGroupVersion.WithResource("customresourcedefinitions")
	version := func(name string, storage bool) apiextensionsv1.CustomResourceDefinitionVersion {
		return apiextensionsv1.CustomResourceDefinitionVersion{Name: name, Served: true, Storage: storage,
			Schema: &apiextensionsv1.CustomResourceValidation{OpenAPIV3Schema: &apiextensionsv1.JSONSchemaProps{
				Type: "object", XPreserveUnknownFields: ptr.To(true)}}}
	}
	crd := &apiextensionsv1.CustomResourceDefinition{
		TypeMeta:   metav1.TypeMeta{APIVersion: "apiextensions.k8s.io/v1", Kind: "CustomResourceDefinition"},
		ObjectMeta: metav1.ObjectMeta{Name: "gadgets.example.com"},
		Spec: apiextensionsv1.CustomResourceDefinitionSpec{
			Group: "example.com", Scope: apiextensionsv1.NamespaceScoped,
			Names:    apiextensionsv1.CustomResourceDefinitionNames{Plural: "gadgets", Singular: "gadget", Kind: "Gadget", ListKind: "GadgetList"},
			Versions: []apiextensionsv1.CustomResourceDefinitionVersion{version("v1", true), version("v2", false)},
		},
	}
	u, err := runtime.DefaultUnstructuredConverter.ToUnstructured(crd)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := dyn.Resource(crdGVR).Create(ctx, &unstructured.Unstructured{Object: u}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	gadgets := func(v string) schema.GroupVersionResource {
		return schema.GroupVersionResource{Group: "example.com", Version: v, Resource: "gadgets"}
	}
	create := func(v, name string) error {
		_, err := dyn.Resource(gadgets(v)).Namespace("default").Create(ctx, &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": "example.com/" + v, "kind": "Gadget", "metadata": map[string]any{"name": name}, "spec": map[string]any{"n": int64(1)},
		}}, metav1.CreateOptions{})
		return err
	}
	apiVersionOf := func(name string) string {
		u := &unstructured.Unstructured{}
		if err := u.UnmarshalJSON(stored(t, ts, "/registry/example.com/gadgets/default/"+name)); err != nil {
			t.Fatalf("decode stored %s: %v", name, err)
		}
		return u.GetAPIVersion()
	}
	servertest.Wait(t, "gadgets to be served", func(context.Context) (bool, error) { return create("v1", "g-0") == nil, nil })
	if err := create("v1", "g-1"); err != nil {
		t.Fatal(err)
	}

	// v2 becomes the storage version.
	servertest.Wait(t, "v2 to be the storage version", func(ctx context.Context) (bool, error) {
		cur, err := dyn.Resource(crdGVR).Get(ctx, crd.Name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		versions, _, _ := unstructured.NestedSlice(cur.Object, "spec", "versions")
		for _, v := range versions {
			v := v.(map[string]any)
			v["storage"] = v["name"] == "v2"
		}
		if err := unstructured.SetNestedSlice(cur.Object, versions, "spec", "versions"); err != nil {
			return false, err
		}
		_, err = dyn.Resource(crdGVR).Update(ctx, cur, metav1.UpdateOptions{})
		return err == nil, nil
	})
	servertest.Wait(t, "new gadgets to be stored as v2", func(ctx context.Context) (bool, error) {
		_ = dyn.Resource(gadgets("v1")).Namespace("default").Delete(ctx, "probe", metav1.DeleteOptions{})
		if err := create("v1", "probe"); err != nil {
			return false, nil
		}
		return apiVersionOf("probe") == "example.com/v2", nil
	})
	for _, name := range []string{"g-0", "g-1"} {
		if v := apiVersionOf(name); v != "example.com/v1" {
			t.Fatalf("%s stored as %s before the migration", name, v)
		}
	}

	ts.RunController(t, storageversionmigrator.New, nil)
	createSVM(t, ts, "gadgets", metav1.GroupResource{Group: "example.com", Resource: "gadgets"})
	svm := waitFinished(t, ts, "gadgets")
	if c := condition(svm, svmv1.MigrationSucceeded); c.Status != metav1.ConditionTrue {
		t.Fatalf("migration did not succeed: %+v", svm.Status.Conditions)
	}
	for _, name := range []string{"g-0", "g-1", "probe"} {
		if v := apiVersionOf(name); v != "example.com/v2" {
			t.Errorf("%s stored as %s after the migration", name, v)
		}
	}
	servertest.Wait(t, "the CRD's stored versions to be trimmed", func(ctx context.Context) (bool, error) {
		cur, err := dyn.Resource(crdGVR).Get(ctx, crd.Name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		got := &apiextensionsv1.CustomResourceDefinition{}
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(cur.Object, got); err != nil {
			return false, err
		}
		for _, c := range got.Status.Conditions {
			if c.Type == apiextensionsv1.StorageMigrating {
				if c.Status != apiextensionsv1.ConditionFalse || c.Reason != "MigrationSucceeded" {
					return false, nil
				}
				return len(got.Status.StoredVersions) == 1 && got.Status.StoredVersions[0] == "v2", nil
			}
		}
		return false, nil
	})
}
