package openapi

import (
	"encoding/json"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/kube-openapi/pkg/spec3"
	"k8s.io/kube-openapi/pkg/validation/spec"
)

func operations3(p *spec3.Path) map[string]*spec3.Operation {
	return map[string]*spec3.Operation{
		"GET": p.Get, "PUT": p.Put, "POST": p.Post, "PATCH": p.Patch, "DELETE": p.Delete, "HEAD": p.Head, "OPTIONS": p.Options,
	}
}

func paramNames3(doc *spec3.OpenAPI, path string, op *spec3.Operation) []string {
	var names []string
	for _, p := range append(append([]*spec3.Parameter(nil), doc.Paths.Paths[path].Parameters...), op.Parameters...) {
		names = append(names, p.Name)
	}
	sort.Strings(names)
	return names
}

func TestV3AppsV1(t *testing.T) {
	s := newTestSpec(t)
	doc, err := s.BuildV3(appsv1.SchemeGroupVersion)
	if err != nil {
		t.Fatal(err)
	}
	const (
		coll = "/apis/apps/v1/namespaces/{namespace}/deployments"
		item = coll + "/{name}"
	)
	tests := []struct {
		path, method, opID, action string
		gvk                        map[string]any
		params                     []string
	}{
		{coll, "GET", "listAppsV1NamespacedDeployment", "list", deployGVK, []string{"allowWatchBookmarks", "continue", "fieldSelector", "labelSelector", "limit", "namespace", "pretty", "resourceVersion", "resourceVersionMatch", "sendInitialEvents", "timeoutSeconds", "watch"}},
		{coll, "POST", "createAppsV1NamespacedDeployment", "post", deployGVK, []string{"dryRun", "fieldManager", "fieldValidation", "namespace", "pretty"}},
		{coll, "DELETE", "deleteAppsV1CollectionNamespacedDeployment", "deletecollection", deployGVK, []string{"continue", "dryRun", "fieldSelector", "gracePeriodSeconds", "ignoreStoreReadErrorWithClusterBreakingPotential", "labelSelector", "limit", "namespace", "orphanDependents", "pretty", "propagationPolicy", "resourceVersion", "resourceVersionMatch", "sendInitialEvents", "timeoutSeconds"}},
		{item, "GET", "readAppsV1NamespacedDeployment", "get", deployGVK, []string{"name", "namespace", "pretty"}},
		{item, "PUT", "replaceAppsV1NamespacedDeployment", "put", deployGVK, []string{"dryRun", "fieldManager", "fieldValidation", "name", "namespace", "pretty"}},
		{item, "PATCH", "patchAppsV1NamespacedDeployment", "patch", deployGVK, []string{"dryRun", "fieldManager", "fieldValidation", "force", "name", "namespace", "pretty"}},
		{item, "DELETE", "deleteAppsV1NamespacedDeployment", "delete", deployGVK, []string{"dryRun", "gracePeriodSeconds", "ignoreStoreReadErrorWithClusterBreakingPotential", "name", "namespace", "orphanDependents", "pretty", "propagationPolicy"}},
		{item + "/status", "PATCH", "patchAppsV1NamespacedDeploymentStatus", "patch", deployGVK, []string{"dryRun", "fieldManager", "fieldValidation", "force", "name", "namespace", "pretty"}},
		{item + "/scale", "PUT", "replaceAppsV1NamespacedDeploymentScale", "put", scaleGVK, []string{"dryRun", "fieldManager", "fieldValidation", "name", "namespace", "pretty"}},
		{"/apis/apps/v1/deployments", "GET", "listAppsV1DeploymentForAllNamespaces", "list", deployGVK, []string{"allowWatchBookmarks", "continue", "fieldSelector", "labelSelector", "limit", "pretty", "resourceVersion", "resourceVersionMatch", "sendInitialEvents", "timeoutSeconds", "watch"}},
		{"/apis/apps/v1/watch/namespaces/{namespace}/deployments", "GET", "watchAppsV1NamespacedDeploymentList", "watchlist", deployGVK, nil},
		{"/apis/apps/v1/watch/namespaces/{namespace}/deployments/{name}", "GET", "watchAppsV1NamespacedDeployment", "watch", deployGVK, nil},
		{"/apis/apps/v1/watch/deployments", "GET", "watchAppsV1DeploymentListForAllNamespaces", "watchlist", deployGVK, nil},
	}
	for _, tt := range tests {
		t.Run(tt.opID, func(t *testing.T) {
			p, ok := doc.Paths.Paths[tt.path]
			if !ok {
				t.Fatalf("no path %s", tt.path)
			}
			op := operations3(p)[tt.method]
			if op == nil {
				t.Fatalf("no %s on %s", tt.method, tt.path)
			}
			if op.OperationId != tt.opID {
				t.Errorf("operationId = %q, want %q", op.OperationId, tt.opID)
			}
			if diff := cmp.Diff(tt.action, op.Extensions[extAction]); diff != "" {
				t.Errorf("action (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.gvk, op.Extensions[extGVK]); diff != "" {
				t.Errorf("gvk (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff([]string{"apps_v1"}, op.Tags); diff != "" {
				t.Errorf("tags (-want +got):\n%s", diff)
			}
			if tt.params != nil {
				if diff := cmp.Diff(tt.params, paramNames3(doc, tt.path, op)); diff != "" {
					t.Errorf("parameters (-want +got):\n%s", diff)
				}
			}
		})
	}

	patch := doc.Paths.Paths[item].Patch
	var types []string
	for ct, mt := range patch.RequestBody.Content {
		types = append(types, ct)
		if got := mt.Schema.Ref.String(); got != "#/components/schemas/io.k8s.apimachinery.pkg.apis.meta.v1.Patch" {
			t.Errorf("patch body %s schema = %q", ct, got)
		}
	}
	sort.Strings(types)
	want := []string{"application/apply-patch+yaml", "application/json-patch+json", "application/merge-patch+json", "application/strategic-merge-patch+json"}
	if diff := cmp.Diff(want, types); diff != "" {
		t.Errorf("patch content types (-want +got):\n%s", diff)
	}
	if got := patch.Responses.StatusCodeResponses[200].Content["application/json"].Schema.Ref.String(); got != "#/components/schemas/io.k8s.api.apps.v1.Deployment" {
		t.Errorf("patch 200 schema = %q", got)
	}

	dep, ok := doc.Components.Schemas["io.k8s.api.apps.v1.Deployment"]
	if !ok {
		t.Fatal("no Deployment schema")
	}
	if diff := cmp.Diff([]any{deployGVK}, dep.Extensions[extGVK]); diff != "" {
		t.Errorf("Deployment GVK (-want +got):\n%s", diff)
	}
	// v3 wraps refs that have siblings (descriptions) in allOf.
	if got := dep.Properties["spec"].AllOf; len(got) != 1 || got[0].Ref.String() != "#/components/schemas/io.k8s.api.apps.v1.DeploymentSpec" {
		t.Errorf("Deployment.spec = %+v, want allOf DeploymentSpec", dep.Properties["spec"])
	}
	if _, ok := doc.Components.Schemas["io.k8s.api.core.v1.Pod"]; ok {
		t.Error("apps/v1 document carries Pod, which it does not reference")
	}
	checkRefs(t, mustJSON(t, doc), "#/components/schemas/", keys(doc.Components.Schemas))
}

var (
	deployGVK = map[string]any{"group": "apps", "version": "v1", "kind": "Deployment"}
	scaleGVK  = map[string]any{"group": "autoscaling", "version": "v1", "kind": "Scale"}
)

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func keys[V any](m map[string]V) map[string]bool {
	out := map[string]bool{}
	for k := range m {
		out[k] = true
	}
	return out
}

// checkRefs fails on any $ref under prefix that names no definition.
func checkRefs(t *testing.T, doc []byte, prefix string, defs map[string]bool) {
	t.Helper()
	re := regexp.MustCompile(`"\$ref":"` + regexp.QuoteMeta(prefix) + `([^"]+)"`)
	n := 0
	for _, m := range re.FindAllSubmatch(doc, -1) {
		n++
		if !defs[string(m[1])] {
			t.Errorf("dangling $ref %s%s", prefix, m[1])
		}
	}
	if n == 0 {
		t.Errorf("no $ref under %s", prefix)
	}
}

func TestV2(t *testing.T) {
	s := newTestSpec(t)
	built, err := s.BuildV2()
	if err != nil {
		t.Fatal(err)
	}
	raw := mustJSON(t, built)
	var doc spec.Swagger
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatalf("v2 does not parse as spec.Swagger: %v", err)
	}
	if doc.Swagger != "2.0" {
		t.Errorf("swagger = %q", doc.Swagger)
	}
	checkRefs(t, raw, "#/definitions/", keys(doc.Definitions))
	checkRefs(t, raw, "#/parameters/", keys(doc.Parameters))

	ops := map[string]string{}
	for path, item := range doc.Paths.Paths {
		for method, op := range map[string]*spec.Operation{"GET": item.Get, "PUT": item.Put, "POST": item.Post, "PATCH": item.Patch, "DELETE": item.Delete, "HEAD": item.Head, "OPTIONS": item.Options} {
			if op != nil {
				ops[op.ID] = method + " " + path
			}
		}
	}
	wantOps := map[string]string{
		"listCoreV1NamespacedPod":                        "GET /api/v1/namespaces/{namespace}/pods",
		"listCoreV1PodForAllNamespaces":                  "GET /api/v1/pods",
		"deleteCoreV1CollectionNamespacedPod":            "DELETE /api/v1/namespaces/{namespace}/pods",
		"readCoreV1NamespacedPodStatus":                  "GET /api/v1/namespaces/{namespace}/pods/{name}/status",
		"readCoreV1NamespacedPodLog":                     "GET /api/v1/namespaces/{namespace}/pods/{name}/log",
		"createCoreV1NamespacedPodBinding":               "POST /api/v1/namespaces/{namespace}/pods/{name}/binding",
		"createCoreV1NamespacedPodEviction":              "POST /api/v1/namespaces/{namespace}/pods/{name}/eviction",
		"connectCoreV1PostNamespacedPodExec":             "POST /api/v1/namespaces/{namespace}/pods/{name}/exec",
		"connectCoreV1GetNamespacedPodPortforward":       "GET /api/v1/namespaces/{namespace}/pods/{name}/portforward",
		"connectCoreV1GetNamespacedServiceProxyWithPath": "GET /api/v1/namespaces/{namespace}/services/{name}/proxy/{path}",
		"patchCoreV1NamespacedPodEphemeralcontainers":    "PATCH /api/v1/namespaces/{namespace}/pods/{name}/ephemeralcontainers",
		"replaceCoreV1NamespaceFinalize":                 "PUT /api/v1/namespaces/{name}/finalize",
		"createCoreV1NamespacedServiceAccountToken":      "POST /api/v1/namespaces/{namespace}/serviceaccounts/{name}/token",
		"watchCoreV1NamespaceList":                       "GET /api/v1/watch/namespaces",
		"patchAppsV1NamespacedDeploymentScale":           "PATCH /apis/apps/v1/namespaces/{namespace}/deployments/{name}/scale",
		"listRbacAuthorizationV1ClusterRole":             "GET /apis/rbac.authorization.k8s.io/v1/clusterroles",
		"createAuthenticationV1TokenReview":              "POST /apis/authentication.k8s.io/v1/tokenreviews",
	}
	for id, want := range wantOps {
		if got := ops[id]; got != want {
			t.Errorf("operation %s = %q, want %q", id, got, want)
		}
	}
	if _, ok := ops["listAuthenticationV1TokenReview"]; ok {
		t.Error("create-only tokenreviews has a list operation")
	}

	// Meta kinds registered in every group version list all of them.
	var gvks []map[string]string
	if err := doc.Definitions["io.k8s.apimachinery.pkg.apis.meta.v1.DeleteOptions"].Extensions.GetObject(extGVK, &gvks); err != nil {
		t.Fatal(err)
	}
	for _, want := range []map[string]string{
		{"group": "", "version": "v1", "kind": "DeleteOptions"},
		{"group": "apps", "version": "v1", "kind": "DeleteOptions"},
		{"group": "rbac.authorization.k8s.io", "version": "v1", "kind": "DeleteOptions"},
	} {
		found := false
		for _, g := range gvks {
			found = found || cmp.Equal(g, want)
		}
		if !found {
			t.Errorf("DeleteOptions GVKs %v lack %v", gvks, want)
		}
	}
	if !sort.SliceIsSorted(gvks, func(i, j int) bool {
		a, b := gvks[i], gvks[j]
		return a["group"] < b["group"] || a["group"] == b["group"] && a["version"] < b["version"]
	}) {
		t.Errorf("DeleteOptions GVKs not sorted: %v", gvks)
	}
	// Pods' DELETE answers with the Pod, deployments' with a Status.
	del := doc.Paths.Paths["/api/v1/namespaces/{namespace}/pods/{name}"].Delete
	if got := del.Responses.StatusCodeResponses[200].Schema.Ref.String(); got != "#/definitions/io.k8s.api.core.v1.Pod" {
		t.Errorf("pod delete 200 = %q", got)
	}
	// Patch consumes every patch type.
	if diff := cmp.Diff(consumePatch, doc.Paths.Paths["/api/v1/namespaces/{namespace}/pods/{name}"].Patch.Consumes); diff != "" {
		t.Errorf("patch consumes (-want +got):\n%s", diff)
	}
}

// TestDefinitions checks every generated definition: REST friendly names,
// no dangling references, GVK extensions on kinds.
func TestDefinitions(t *testing.T) {
	s := newTestSpec(t)
	defs, err := s.Definitions()
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for name := range defs {
		names[name] = true
		if strings.Contains(name, "/") {
			t.Errorf("definition %q is not REST friendly", name)
		}
	}
	checkRefs(t, mustJSON(t, defs), "#/definitions/", names)
	tests := []struct {
		name string
		gvk  schema.GroupVersionKind
	}{
		{"io.k8s.api.core.v1.Pod", schema.GroupVersionKind{Version: "v1", Kind: "Pod"}},
		{"io.k8s.api.batch.v1.CronJob", schema.GroupVersionKind{Group: "batch", Version: "v1", Kind: "CronJob"}},
		{"io.k8s.api.autoscaling.v2.HorizontalPodAutoscaler", schema.GroupVersionKind{Group: "autoscaling", Version: "v2", Kind: "HorizontalPodAutoscaler"}},
		{"io.k8s.api.events.v1.Event", schema.GroupVersionKind{Group: "events.k8s.io", Version: "v1", Kind: "Event"}},
	}
	for _, tt := range tests {
		d, ok := defs[tt.name]
		if !ok {
			t.Errorf("no definition %s", tt.name)
			continue
		}
		want := []any{map[string]any{"group": tt.gvk.Group, "version": tt.gvk.Version, "kind": tt.gvk.Kind}}
		if diff := cmp.Diff(want, d.Extensions[extGVK]); diff != "" {
			t.Errorf("%s GVK (-want +got):\n%s", tt.name, diff)
		}
	}
	if _, ok := defs["io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"].Extensions[extGVK]; ok {
		t.Error("ObjectMeta, not a kind, has a GVK extension")
	}
}
