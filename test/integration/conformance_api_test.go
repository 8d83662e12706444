package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	flowcontrolv1 "k8s.io/api/flowcontrol/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/retry"

	"skiff/internal/server"
	"skiff/internal/server/servertest"
)

// hasResource reports whether discovery lists resource in group version gv.
func hasResource(t *testing.T, ts *servertest.Server, gv, resource string) bool {
	t.Helper()
	list, err := ts.Client.Discovery().ServerResourcesForGroupVersion(gv)
	if err != nil {
		t.Fatalf("discover %s: %v", gv, err)
	}
	for _, r := range list.APIResources {
		if r.Name == resource {
			return true
		}
	}
	return false
}

// TestReviews covers the authentication.k8s.io and authorization.k8s.io
// review resources, answered by the server's authenticator and authorizer.
func TestReviews(t *testing.T) {
	ts := servertest.Start(t, nil)
	c := ts.ClientFor(t, protobuf)
	ctx := context.Background()
	for gv, r := range map[string]string{"authentication.k8s.io/v1": "tokenreviews", "authorization.k8s.io/v1": "selfsubjectaccessreviews"} {
		if !hasResource(t, ts, gv, r) {
			t.Errorf("discovery of %s lacks %s", gv, r)
		}
	}

	ssar, err := c.AuthorizationV1().SelfSubjectAccessReviews().Create(ctx, &authorizationv1.SelfSubjectAccessReview{
		Spec: authorizationv1.SelfSubjectAccessReviewSpec{ResourceAttributes: &authorizationv1.ResourceAttributes{Namespace: "default", Verb: "create", Resource: "pods"}},
	}, metav1.CreateOptions{})
	if err != nil || !ssar.Status.Allowed {
		t.Fatalf("admin self review: %+v, %v", ssar, err)
	}
	// Reviews have no Table form.
	err = c.AuthorizationV1().RESTClient().Post().Resource("selfsubjectaccessreviews").
		SetHeader("Accept", "application/json;as=Table;v=v1;g=meta.k8s.io").
		Body(&authorizationv1.SelfSubjectAccessReview{Spec: authorizationv1.SelfSubjectAccessReviewSpec{
			NonResourceAttributes: &authorizationv1.NonResourceAttributes{Path: "/", Verb: "get"}}}).Do(ctx).Error()
	if st, ok := err.(apierrors.APIStatus); !ok || st.Status().Code != http.StatusNotAcceptable {
		t.Fatalf("review asked for as a Table: want 406, got %v", err)
	}
	sar, err := c.AuthorizationV1().SubjectAccessReviews().Create(ctx, &authorizationv1.SubjectAccessReview{
		Spec: authorizationv1.SubjectAccessReviewSpec{User: "nobody", ResourceAttributes: &authorizationv1.ResourceAttributes{Namespace: "default", Verb: "get", Resource: "secrets"}},
	}, metav1.CreateOptions{})
	if err != nil || sar.Status.Allowed {
		t.Fatalf("review for nobody: %+v, %v", sar, err)
	}
	sar, err = c.AuthorizationV1().SubjectAccessReviews().Create(ctx, &authorizationv1.SubjectAccessReview{
		Spec: authorizationv1.SubjectAccessReviewSpec{User: "nobody", Groups: []string{"system:masters"}, NonResourceAttributes: &authorizationv1.NonResourceAttributes{Path: "/healthz", Verb: "get"}},
	}, metav1.CreateOptions{})
	if err != nil || !sar.Status.Allowed {
		t.Fatalf("review for a master: %+v, %v", sar, err)
	}
	_, err = c.AuthorizationV1().LocalSubjectAccessReviews("default").Create(ctx, &authorizationv1.LocalSubjectAccessReview{
		Spec: authorizationv1.SubjectAccessReviewSpec{User: "nobody", ResourceAttributes: &authorizationv1.ResourceAttributes{Namespace: "other", Verb: "get", Resource: "pods"}},
	}, metav1.CreateOptions{})
	if !apierrors.IsInvalid(err) {
		t.Fatalf("local review across namespaces: want Invalid, got %v", err)
	}
	if _, err := c.AuthorizationV1().SubjectAccessReviews().Create(ctx, &authorizationv1.SubjectAccessReview{
		Spec: authorizationv1.SubjectAccessReviewSpec{User: "nobody"},
	}, metav1.CreateOptions{}); !apierrors.IsInvalid(err) {
		t.Fatalf("review without attributes: want Invalid, got %v", err)
	}

	self, err := c.AuthenticationV1().SelfSubjectReviews().Create(ctx, &authenticationv1.SelfSubjectReview{}, metav1.CreateOptions{})
	if err != nil || self.Status.UserInfo.Username == "" {
		t.Fatalf("self subject review: %+v, %v", self, err)
	}
	if _, err := c.CoreV1().ServiceAccounts("default").Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "reviewer"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	tok, err := c.CoreV1().ServiceAccounts("default").CreateToken(ctx, "reviewer", &authenticationv1.TokenRequest{}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	tr, err := c.AuthenticationV1().TokenReviews().Create(ctx, &authenticationv1.TokenReview{Spec: authenticationv1.TokenReviewSpec{Token: tok.Status.Token}}, metav1.CreateOptions{})
	if err != nil || !tr.Status.Authenticated || tr.Status.User.Username != "system:serviceaccount:default:reviewer" {
		t.Fatalf("token review: %+v, %v", tr, err)
	}
	tr, err = c.AuthenticationV1().TokenReviews().Create(ctx, &authenticationv1.TokenReview{Spec: authenticationv1.TokenReviewSpec{Token: "not-a-token"}}, metav1.CreateOptions{})
	if err != nil || tr.Status.Authenticated {
		t.Fatalf("review of a bad token: %+v, %v", tr, err)
	}
	if _, err := c.AuthenticationV1().TokenReviews().Create(ctx, &authenticationv1.TokenReview{}, metav1.CreateOptions{}); !apierrors.IsInvalid(err) {
		t.Fatalf("token review without a token: want Invalid, got %v", err)
	}
}

// TestFlowControlAndAPIServices covers the flowcontrol.apiserver.k8s.io and
// apiregistration.k8s.io resources: stored, defaulted, validated, with status.
func TestFlowControlAndAPIServices(t *testing.T) {
	ts := servertest.Start(t, nil)
	c := ts.ClientFor(t, protobuf)
	ctx := context.Background()
	for gv, r := range map[string]string{"flowcontrol.apiserver.k8s.io/v1": "flowschemas/status", "apiregistration.k8s.io/v1": "apiservices"} {
		if !hasResource(t, ts, gv, r) {
			t.Errorf("discovery of %s lacks %s", gv, r)
		}
	}

	pl, err := c.FlowcontrolV1().PriorityLevelConfigurations().Create(ctx, &flowcontrolv1.PriorityLevelConfiguration{
		ObjectMeta: metav1.ObjectMeta{GenerateName: "pl-"},
		Spec: flowcontrolv1.PriorityLevelConfigurationSpec{Type: flowcontrolv1.PriorityLevelEnablementLimited,
			Limited: &flowcontrolv1.LimitedPriorityLevelConfiguration{LimitResponse: flowcontrolv1.LimitResponse{Type: flowcontrolv1.LimitResponseTypeReject}}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if n := pl.Spec.Limited.NominalConcurrencyShares; n == nil || *n != 30 {
		t.Errorf("nominalConcurrencyShares not defaulted to 30: %v", n)
	}
	fs, err := c.FlowcontrolV1().FlowSchemas().Create(ctx, &flowcontrolv1.FlowSchema{
		ObjectMeta: metav1.ObjectMeta{Name: "fs"},
		Spec: flowcontrolv1.FlowSchemaSpec{PriorityLevelConfiguration: flowcontrolv1.PriorityLevelConfigurationReference{Name: pl.Name},
			Rules: []flowcontrolv1.PolicyRulesWithSubjects{{
				Subjects:         []flowcontrolv1.Subject{{Kind: flowcontrolv1.SubjectKindUser, User: &flowcontrolv1.UserSubject{Name: "someone"}}},
				NonResourceRules: []flowcontrolv1.NonResourcePolicyRule{{Verbs: []string{"*"}, NonResourceURLs: []string{"*"}}},
			}}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if fs.Spec.MatchingPrecedence != 1000 {
		t.Errorf("matchingPrecedence not defaulted: %d", fs.Spec.MatchingPrecedence)
	}
	// The API server writes the Dangling condition too: retry on
	// conflict, as upstream's e2e test does.
	err = retry.RetryOnConflict(retry.DefaultRetry, func() error {
		cur, err := c.FlowcontrolV1().FlowSchemas().Get(ctx, "fs", metav1.GetOptions{})
		if err != nil {
			return err
		}
		cur.Status.Conditions = []flowcontrolv1.FlowSchemaCondition{{Type: "Custom", Status: flowcontrolv1.ConditionTrue, Reason: "Test"}}
		fs, err = c.FlowcontrolV1().FlowSchemas().UpdateStatus(ctx, cur, metav1.UpdateOptions{})
		return err
	})
	if err != nil || len(fs.Status.Conditions) != 1 || fs.Status.Conditions[0].Type != "Custom" {
		t.Fatalf("update status: %+v, %v", fs, err)
	}
	err = retry.RetryOnConflict(retry.DefaultRetry, func() error {
		cur, err := c.FlowcontrolV1().FlowSchemas().Get(ctx, "fs", metav1.GetOptions{})
		if err != nil {
			return err
		}
		cur.Status.Conditions = nil
		cur.Spec.MatchingPrecedence = 500
		fs, err = c.FlowcontrolV1().FlowSchemas().Update(ctx, cur, metav1.UpdateOptions{})
		return err
	})
	if err != nil || len(fs.Status.Conditions) == 0 || fs.Spec.MatchingPrecedence != 500 {
		t.Fatalf("update of spec kept status? %+v, %v", fs, err)
	}
	_, err = c.FlowcontrolV1().PriorityLevelConfigurations().Create(ctx, &flowcontrolv1.PriorityLevelConfiguration{
		ObjectMeta: metav1.ObjectMeta{Name: "bad"}, Spec: flowcontrolv1.PriorityLevelConfigurationSpec{Type: "Sometimes"},
	}, metav1.CreateOptions{})
	if !apierrors.IsInvalid(err) {
		t.Fatalf("bad priority level type: want Invalid, got %v", err)
	}

	apiservices := ts.Dynamic(t).Resource(schema.GroupVersionResource{Group: "apiregistration.k8s.io", Version: "v1", Resource: "apiservices"})
	svc := func(name, group, version string) *unstructured.Unstructured {
		return &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": "apiregistration.k8s.io/v1", "kind": "APIService",
			"metadata": map[string]any{"name": name},
			"spec": map[string]any{"group": group, "version": version, "groupPriorityMinimum": int64(100), "versionPriority": int64(10),
				"service": map[string]any{"namespace": "default", "name": "ext"}, "insecureSkipTLSVerify": true},
		}}
	}
	got, err := apiservices.Create(ctx, svc("v1alpha1.example.com", "example.com", "v1alpha1"), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if port, _, _ := unstructured.NestedInt64(got.Object, "spec", "service", "port"); port != 443 {
		t.Errorf("service port not defaulted to 443: %d", port)
	}
	if _, err := apiservices.Create(ctx, svc("v1.example.com", "example.com", "v2"), metav1.CreateOptions{}); !apierrors.IsInvalid(err) {
		t.Fatalf("apiservice named unlike its version: want Invalid, got %v", err)
	}
}

// TestQuotaAdmission covers ResourceQuota admission: creates are charged to
// the quotas at once and refused past a hard limit.
func TestQuotaAdmission(t *testing.T) {
	ts := servertest.Start(t, nil)
	c := ts.ClientFor(t, protobuf)
	ctx := context.Background()
	ns := "default"
	q, err := c.CoreV1().ResourceQuotas(ns).Create(ctx, &corev1.ResourceQuota{
		ObjectMeta: metav1.ObjectMeta{Name: "q"},
		Spec:       corev1.ResourceQuotaSpec{Hard: corev1.ResourceList{corev1.ResourcePods: resource.MustParse("2"), corev1.ResourceRequestsCPU: resource.MustParse("1"), corev1.ResourceConfigMaps: resource.MustParse("1")}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// The quota controller is off here: set the usage it would compute.
	q.Status = corev1.ResourceQuotaStatus{Hard: q.Spec.Hard, Used: corev1.ResourceList{
		corev1.ResourcePods: resource.MustParse("0"), corev1.ResourceRequestsCPU: resource.MustParse("0"), corev1.ResourceConfigMaps: resource.MustParse("0")}}
	if _, err := c.CoreV1().ResourceQuotas(ns).UpdateStatus(ctx, q, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	pod := func(name, cpu string) *corev1.Pod {
		ctr := corev1.Container{Name: "c", Image: "pause"}
		if cpu != "" {
			ctr.Resources.Requests = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(cpu)}
		}
		return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: corev1.PodSpec{Containers: []corev1.Container{ctr}}}
	}
	if _, err := c.CoreV1().Pods(ns).Create(ctx, pod("dry", "900m"), metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.CoreV1().Pods(ns).Create(ctx, pod("a", "600m"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	q, err = c.CoreV1().ResourceQuotas(ns).Get(ctx, "q", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if used := q.Status.Used[corev1.ResourceRequestsCPU]; used.Cmp(resource.MustParse("600m")) != 0 {
		t.Errorf("requests.cpu charged: %s, want 600m (the dry run must not count)", used.String())
	}
	if used := q.Status.Used[corev1.ResourcePods]; used.Value() != 1 {
		t.Errorf("pods charged: %s, want 1", used.String())
	}
	_, err = c.CoreV1().Pods(ns).Create(ctx, pod("b", "500m"), metav1.CreateOptions{})
	if !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), "exceeded quota: q") {
		t.Fatalf("pod past the cpu quota: want Forbidden exceeded quota, got %v", err)
	}
	_, err = c.CoreV1().Pods(ns).Create(ctx, pod("c", ""), metav1.CreateOptions{})
	if !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), "must specify requests.cpu") {
		t.Fatalf("pod without a cpu request: want Forbidden must specify, got %v", err)
	}
	if _, err := c.CoreV1().ConfigMaps(ns).Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "one"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	_, err = c.CoreV1().ConfigMaps(ns).Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "two"}}, metav1.CreateOptions{})
	if !apierrors.IsForbidden(err) {
		t.Fatalf("second configmap past the quota: want Forbidden, got %v", err)
	}
}

// TestCustomResourceReadsAndApply covers custom resources as the
// conformance suite checks them: a default added to the schema later shows
// on objects stored before it, and apply refuses duplicate keys and unknown
// metadata fields under fieldValidation=Strict.
func TestCustomResourceReadsAndApply(t *testing.T) {
	ts := servertest.Start(t, nil)
	ctx := context.Background()
	dyn := ts.Dynamic(t)
	cs := ts.Client
	if _, err := dyn.Resource(crdGVR).Create(ctx, toUnstructured(t, widgetCRD()), metav1.CreateOptions{}); err != nil {
		t.Fatalf("create crd: %v", err)
	}
	widgets := dyn.Resource(schema.GroupVersionResource{Group: "example.com", Version: "v1", Resource: "widgets"}).Namespace("default")
	servertest.Wait(t, "widgets served", func(context.Context) (bool, error) {
		_, err := widgets.List(ctx, metav1.ListOptions{})
		return err == nil, err
	})
	if _, err := widgets.Create(ctx, widget("w1", map[string]interface{}{"color": "red"}), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	patch := []byte(`[{"op":"add","path":"/spec/versions/0/schema/openAPIV3Schema/properties/spec/properties/label/default","value":"plain"}]`)
	if _, err := dyn.Resource(crdGVR).Patch(ctx, "widgets.example.com", types.JSONPatchType, patch, metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	servertest.Wait(t, "the new default on read", func(context.Context) (bool, error) {
		w, err := widgets.Get(ctx, "w1", metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		label, _, _ := unstructured.NestedString(w.Object, "spec", "label")
		return label == "plain", nil
	})
	list, err := widgets.List(ctx, metav1.ListOptions{})
	if err != nil || len(list.Items) != 1 {
		t.Fatalf("list: %v, %v", list, err)
	}
	if label, _, _ := unstructured.NestedString(list.Items[0].Object, "spec", "label"); label != "plain" {
		t.Errorf("list does not default: label %q", label)
	}

	apply := func(body string) ([]byte, error) {
		return cs.Discovery().RESTClient().Patch(types.ApplyPatchType).
			AbsPath("/apis/example.com/v1/namespaces/default/widgets/w2").
			Param("fieldManager", "test").Param("fieldValidation", "Strict").
			Body([]byte(body)).DoRaw(ctx)
	}
	out, err := apply("apiVersion: example.com/v1\nkind: Widget\nmetadata:\n  name: w2\nspec:\n  color: red\n  color: blue\n")
	if !apierrors.IsBadRequest(err) || !strings.Contains(string(out), `line 7: key \"color\" already set in map`) {
		t.Fatalf("apply with a duplicate key: want 400 naming the line, got %v: %s", err, out)
	}
	out, err = apply("apiVersion: example.com/v1\nkind: Widget\nmetadata:\n  name: w2\n  unknownMeta: x\nspec:\n  color: red\n")
	if err == nil || !strings.Contains(string(out), `.metadata.unknownMeta: field not declared in schema`) {
		t.Fatalf("apply with unknown metadata: want an error naming the field, got %v: %s", err, out)
	}
	if _, err := apply("apiVersion: example.com/v1\nkind: Widget\nmetadata:\n  name: w2\n  labels: {a: b}\nspec:\n  color: red\n"); err != nil {
		t.Fatalf("valid apply: %v", err)
	}
}

// TestOpenAPIV2OpaqueCustomResource covers how v2 publishes a custom
// resource whose schema keeps unknown fields at its root: as a bare object,
// so that kubectl's v2 validation accepts any field.
func TestOpenAPIV2OpaqueCustomResource(t *testing.T) {
	ts := servertest.Start(t, nil)
	ctx := context.Background()
	crd := widgetCRD()
	crd.Name, crd.Spec.Group = "widgets.opaque.example.com", "opaque.example.com"
	crd.Spec.Versions = crd.Spec.Versions[:1]
	crd.Spec.Versions[0].Subresources = nil
	crd.Spec.Versions[0].AdditionalPrinterColumns = nil
	preserve := true
	crd.Spec.Versions[0].Schema.OpenAPIV3Schema = &apiextensionsv1.JSONSchemaProps{Type: "object", XPreserveUnknownFields: &preserve}
	if _, err := ts.Dynamic(t).Resource(crdGVR).Create(ctx, toUnstructured(t, crd), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	const name = "com.example.opaque.v1.Widget"
	servertest.Wait(t, "the definition in /openapi/v2", func(context.Context) (bool, error) {
		raw, err := ts.Client.Discovery().RESTClient().Get().AbsPath("/openapi/v2").SetHeader("Accept", "application/json").DoRaw(ctx)
		if err != nil {
			return false, err
		}
		var doc struct {
			Definitions map[string]map[string]any `json:"definitions"`
		}
		if err := json.Unmarshal(raw, &doc); err != nil {
			return false, err
		}
		def, ok := doc.Definitions[name]
		if !ok {
			return false, nil
		}
		if _, has := def["properties"]; has || def["x-kubernetes-preserve-unknown-fields"] != nil || def["x-kubernetes-group-version-kind"] == nil {
			return false, fmt.Errorf("definition is not a bare object with its kind: %v", def)
		}
		return true, nil
	})
}

// TestListContinueAfterCompaction covers a continue token whose revision
// has been compacted away: the 410 carries a token that lists the rest, at
// the latest revision.
func TestListContinueAfterCompaction(t *testing.T) {
	ts := servertest.Start(t, nil)
	c := ts.ClientFor(t, protobuf)
	ctx := context.Background()
	const total = 10
	for i := 0; i < total; i++ {
		cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("cm-%02d", i)}}
		if _, err := c.CoreV1().ConfigMaps("default").Create(ctx, cm, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	first, err := c.CoreV1().ConfigMaps("default").List(ctx, metav1.ListOptions{Limit: 3})
	if err != nil || first.Continue == "" {
		t.Fatalf("first page: %v, %v", first, err)
	}
	// Move past the first page's revision and compact it away.
	last, err := c.CoreV1().ConfigMaps("default").Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "zz-late"}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	rev, err := strconv.ParseInt(last.ResourceVersion, 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	if err := ts.Store().Compact(ctx, rev); err != nil {
		t.Fatal(err)
	}
	_, err = c.CoreV1().ConfigMaps("default").List(ctx, metav1.ListOptions{Limit: 3, Continue: first.Continue})
	st, ok := err.(apierrors.APIStatus)
	if !apierrors.IsResourceExpired(err) || !ok || st.Status().Continue == "" {
		t.Fatalf("continue after compaction: want 410 with a continue token, got %v", err)
	}
	names := map[string]bool{}
	for _, cm := range first.Items {
		names[cm.Name] = true
	}
	token := st.Status().Continue
	for token != "" {
		page, err := c.CoreV1().ConfigMaps("default").List(ctx, metav1.ListOptions{Limit: 3, Continue: token})
		if err != nil {
			t.Fatalf("inconsistent continue: %v", err)
		}
		for _, cm := range page.Items {
			if names[cm.Name] {
				t.Fatalf("%s listed twice", cm.Name)
			}
			names[cm.Name] = true
		}
		token = page.Continue
	}
	// kube-root-ca.crt and the like may be there too: count what was made.
	for i := 0; i < total; i++ {
		if !names[fmt.Sprintf("cm-%02d", i)] {
			t.Errorf("cm-%02d missing from the paged list", i)
		}
	}
	if !names["zz-late"] {
		t.Errorf("the list resumed at the latest revision should show zz-late")
	}
}

// TestNamespaceDeletionWaitsForContent covers the namespace controller:
// pods go first, the rest of the content only once no pod remains, and a
// namespace whose content is held by a finalizer stays, Terminating, with
// conditions saying why, until the finalizer goes.
func TestNamespaceDeletionWaitsForContent(t *testing.T) {
	ts := servertest.Start(t, func(cfg *server.Config) { cfg.Disable = []string{"scheduler"} })
	c := ts.Client
	ctx := context.Background()
	if _, err := c.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "held"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	hold := []string{"example.com/hold"}
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", Finalizers: hold},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "pause"}}}}
	if _, err := c.CoreV1().Pods("held").Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	for _, cm := range []*corev1.ConfigMap{
		{ObjectMeta: metav1.ObjectMeta{Name: "held", Finalizers: hold}},
		{ObjectMeta: metav1.ObjectMeta{Name: "plain"}},
	} {
		if _, err := c.CoreV1().ConfigMaps("held").Create(ctx, cm, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.CoreV1().Namespaces().Delete(ctx, "held", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	condition := func(typ corev1.NamespaceConditionType) func(context.Context) (bool, error) {
		return func(context.Context) (bool, error) {
			ns, err := c.CoreV1().Namespaces().Get(ctx, "held", metav1.GetOptions{})
			if err != nil {
				return false, err
			}
			for _, cond := range ns.Status.Conditions {
				if cond.Type == typ && cond.Status == corev1.ConditionTrue {
					return true, nil
				}
			}
			return false, nil
		}
	}
	servertest.Wait(t, "the namespace to report the held pod", condition(corev1.NamespaceFinalizersRemaining))
	p, err := c.CoreV1().Pods("held").Get(ctx, "p", metav1.GetOptions{})
	if err != nil || p.DeletionTimestamp == nil {
		t.Fatalf("the held pod should be there, being deleted: %v, %v", p, err)
	}
	for _, name := range []string{"held", "plain"} {
		cm, err := c.CoreV1().ConfigMaps("held").Get(ctx, name, metav1.GetOptions{})
		if err != nil || cm.DeletionTimestamp != nil {
			t.Fatalf("configmap %s must stay while a pod remains: %v, %v", name, cm, err)
		}
	}
	p.Finalizers = nil
	if _, err := c.CoreV1().Pods("held").Update(ctx, p, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	servertest.Wait(t, "the plain configmap to go", func(context.Context) (bool, error) {
		_, err := c.CoreV1().ConfigMaps("held").Get(ctx, "plain", metav1.GetOptions{})
		return apierrors.IsNotFound(err), nil
	})
	held, err := c.CoreV1().ConfigMaps("held").Get(ctx, "held", metav1.GetOptions{})
	if err != nil || held.DeletionTimestamp == nil {
		t.Fatalf("the held configmap should be there, being deleted: %v, %v", held, err)
	}
	if _, err := c.CoreV1().Namespaces().Get(ctx, "held", metav1.GetOptions{}); err != nil {
		t.Fatalf("the namespace must stay while content remains: %v", err)
	}
	held.Finalizers = nil
	if _, err := c.CoreV1().ConfigMaps("held").Update(ctx, held, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	servertest.Wait(t, "the namespace to go", func(context.Context) (bool, error) {
		ns, err := c.CoreV1().Namespaces().Get(ctx, "held", metav1.GetOptions{})
		if err == nil {
			return false, fmt.Errorf("still there: spec.finalizers %v, conditions %v", ns.Spec.Finalizers, ns.Status.Conditions)
		}
		return apierrors.IsNotFound(err), nil
	})
}

// TestCustomResourceSelectableFields covers field selectors on the
// selectableFields of a CRD version, for list and watch.
func TestCustomResourceSelectableFields(t *testing.T) {
	ts := servertest.Start(t, nil)
	ctx := context.Background()
	dyn := ts.Dynamic(t)
	crd := widgetCRD()
	for i := range crd.Spec.Versions {
		crd.Spec.Versions[i].SelectableFields = []apiextensionsv1.SelectableField{{JSONPath: ".spec.color"}, {JSONPath: ".spec.size"}}
	}
	if _, err := dyn.Resource(crdGVR).Create(ctx, toUnstructured(t, crd), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	widgets := dyn.Resource(schema.GroupVersionResource{Group: "example.com", Version: "v1", Resource: "widgets"}).Namespace("default")
	servertest.Wait(t, "widgets served", func(context.Context) (bool, error) {
		_, err := widgets.List(ctx, metav1.ListOptions{})
		return err == nil, err
	})
	w, err := widgets.Watch(ctx, metav1.ListOptions{FieldSelector: "spec.color=blue,spec.size=2"})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	for name, spec := range map[string]map[string]interface{}{
		"blue2": {"color": "blue", "size": int64(2)},
		"blue3": {"color": "blue", "size": int64(3)},
		"red":   {"color": "red"},
	} {
		if _, err := widgets.Create(ctx, widget(name, spec), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	list, err := widgets.List(ctx, metav1.ListOptions{FieldSelector: "spec.color=blue"})
	if err != nil || len(list.Items) != 2 {
		t.Fatalf("list by color: %v, %v", list, err)
	}
	select {
	case ev := <-w.ResultChan():
		if u, ok := ev.Object.(*unstructured.Unstructured); !ok || u.GetName() != "blue2" {
			t.Fatalf("watch by color and size: got %v %v", ev.Type, ev.Object)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no watch event for blue2")
	}
	if _, err := widgets.List(ctx, metav1.ListOptions{FieldSelector: "spec.label=x"}); !apierrors.IsBadRequest(err) {
		t.Fatalf("a field that is not selectable: want 400, got %v", err)
	}
}

// TestNamespaceStatusPatch covers namespaces/status: like upstream's, it
// keeps spec but takes annotations along with status.
func TestNamespaceStatusPatch(t *testing.T) {
	ts := servertest.Start(t, nil)
	c := ts.ClientFor(t, protobuf)
	ctx := context.Background()
	patch := []byte(`{"metadata":{"annotations":{"patched":"yes"}},"spec":{"finalizers":[]},"status":{"conditions":[{"type":"StatusPatch","status":"True","reason":"E2E"}]}}`)
	ns, err := c.CoreV1().Namespaces().Patch(ctx, "default", types.MergePatchType, patch, metav1.PatchOptions{}, "status")
	if err != nil {
		t.Fatal(err)
	}
	if ns.Annotations["patched"] != "yes" || len(ns.Status.Conditions) != 1 || len(ns.Spec.Finalizers) != 1 {
		t.Fatalf("status patch: annotations %v, conditions %v, spec.finalizers %v", ns.Annotations, ns.Status.Conditions, ns.Spec.Finalizers)
	}
}
