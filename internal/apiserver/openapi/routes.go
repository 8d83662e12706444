package openapi

import (
	"net/http"
	"strings"
	"unicode"

	authenticationv1 "k8s.io/api/authentication/v1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/kube-openapi/pkg/common"
	"k8s.io/kube-openapi/pkg/util"

	"skiff/internal/apiserver/registry"
)

// Extension keys upstream puts on operations and definitions.
const (
	extGVK    = "x-kubernetes-group-version-kind"
	extAction = "x-kubernetes-action"
)

// Media types, as the API server negotiates them.
var (
	produceObject = []string{"application/json", "application/yaml", "application/vnd.kubernetes.protobuf"}
	produceStream = append(append([]string(nil), produceObject...),
		"application/json;stream=watch", "application/vnd.kubernetes.protobuf;stream=watch")
	consumeAny   = []string{"*/*"}
	consumePatch = []string{
		"application/json-patch+json",
		"application/merge-patch+json",
		"application/strategic-merge-patch+json",
		"application/apply-patch+yaml",
	}
	// consumePatchCustom omits strategic merge patch, which custom resources
	// do not support.
	consumePatchCustom = []string{
		"application/json-patch+json",
		"application/merge-patch+json",
		"application/apply-patch+yaml",
	}
	produceText = []string{"text/plain", "application/json", "application/yaml", "application/vnd.kubernetes.protobuf"}
	produceAny  = []string{"*/*"}
)

// model names an OpenAPI definition. Route samples are models rather than
// Go values so that custom resources, which have no Go type, work the same.
type model string

// OpenAPIModelName makes model a util.OpenAPIModelNamer.
func (m model) OpenAPIModelName() string { return string(m) }

// stringModel is the sample for plain-text responses (logs, connect).
const stringModel = ""

// response is one status code of an operation.
type response struct {
	code   int
	msg    string
	sample any
}

var _ common.StatusCodeResponse = response{}

func (r response) Code() int       { return r.code }
func (r response) Message() string { return r.msg }
func (r response) Model() any      { return r.sample }

// route is one operation on one path; it implements common.Route.
type route struct {
	method      string
	path        string
	opID        string
	tag         string
	description string
	params      []common.Parameter
	consumes    []string
	produces    []string
	meta        map[string]any
	body        any
	responses   []common.StatusCodeResponse
}

var _ common.Route = (*route)(nil)

func (r *route) Method() string                                   { return r.method }
func (r *route) Path() string                                     { return r.path }
func (r *route) OperationName() string                            { return r.opID }
func (r *route) Parameters() []common.Parameter                   { return r.params }
func (r *route) Description() string                              { return r.description }
func (r *route) Consumes() []string                               { return r.consumes }
func (r *route) Produces() []string                               { return r.produces }
func (r *route) Metadata() map[string]any                         { return r.meta }
func (r *route) RequestPayloadSample() any                        { return r.body }
func (r *route) ResponsePayloadSample() any                       { return nil }
func (r *route) StatusCodeResponses() []common.StatusCodeResponse { return r.responses }

// operationIDAndTags is the builders' GetOperationIDAndTagsFromRoute.
func operationIDAndTags(r common.Route) (string, []string, error) {
	rt := r.(*route)
	return rt.opID, []string{rt.tag}, nil
}

// container is the routes of one group version; it implements
// common.RouteContainer.
type container struct {
	root   string
	routes []common.Route
}

func (c *container) RootPath() string                   { return c.root }
func (c *container) PathParameters() []common.Parameter { return nil }
func (c *container) Routes() []common.Route             { return c.routes }

// gvPath is where a group version is served: "/api/v1" or "/apis/apps/v1".
func gvPath(gv schema.GroupVersion) string {
	if gv.Group == "" {
		return "/api/" + gv.Version
	}
	return "/apis/" + gv.Group + "/" + gv.Version
}

// gvKey names a group version in the /openapi/v3 index: "api/v1", "apis/apps/v1".
func gvKey(gv schema.GroupVersion) string {
	return strings.TrimPrefix(gvPath(gv), "/")
}

// opPrefix and tag derive, as upstream does, the group version part of
// operation IDs ("CoreV1", "RbacAuthorizationV1") and the tag
// ("core_v1", "rbacAuthorization_v1").
func opPrefix(gv schema.GroupVersion) (string, string) {
	group := strings.TrimSuffix(gv.Group, ".k8s.io")
	if group == "" {
		group = "core"
	}
	return camel(group, true) + camel(gv.Version, true), camel(group, false) + "_" + camel(gv.Version, false)
}

// camel drops punctuation and capitalises the letter after it.
func camel(s string, upperFirst bool) string {
	var b strings.Builder
	up := upperFirst
	for i, r := range s {
		if unicode.IsLetter(r) || r == '_' || (i > 0 && unicode.IsDigit(r)) {
			if up {
				r = unicode.ToUpper(r)
				up = false
			}
			b.WriteRune(r)
			continue
		}
		up = true
	}
	return b.String()
}

func gvkMeta(gvk schema.GroupVersionKind, action string) map[string]any {
	return map[string]any{
		extAction: action,
		extGVK:    map[string]any{"group": gvk.Group, "version": gvk.Version, "kind": gvk.Kind},
	}
}

// modelOf returns the definition name of obj's schema.
func modelOf(obj runtime.Object, gvk schema.GroupVersionKind) model {
	if _, ok := obj.(*unstructured.Unstructured); ok {
		return model(crdModelName(gvk))
	}
	if _, ok := obj.(*unstructured.UnstructuredList); ok {
		return model(crdModelName(gvk))
	}
	return model(friendlyName(util.GetCanonicalTypeName(obj)))
}

// crdModelName is how upstream names a custom resource's definition:
// the group reversed, then version and kind ("com.example.v1.Widget").
func crdModelName(gvk schema.GroupVersionKind) string {
	return util.ToRESTFriendlyName(gvk.Group + "/" + gvk.Version + "." + gvk.Kind)
}

// friendlyName turns a Go package path name into a REST friendly one; names
// that already are (generated from OpenAPIModelName) pass unchanged.
func friendlyName(name string) string {
	if !strings.Contains(name, "/") {
		return name
	}
	return util.ToRESTFriendlyName(name)
}

// Shared samples.
var (
	statusModel       = model(metav1.Status{}.OpenAPIModelName())
	deleteOptsModel   = model(metav1.DeleteOptions{}.OpenAPIModelName())
	patchModel        = model(metav1.Patch{}.OpenAPIModelName())
	watchEventModel   = model(metav1.WatchEvent{}.OpenAPIModelName())
	scaleModel        = model(autoscalingv1.Scale{}.OpenAPIModelName())
	bindingModel      = model(corev1.Binding{}.OpenAPIModelName())
	evictionModel     = model(policyv1.Eviction{}.OpenAPIModelName())
	tokenRequestModel = model(authenticationv1.TokenRequest{}.OpenAPIModelName())
)

// Query parameters per operation, from the option types. shardSelector
// belongs to an alpha feature (ShardedListAndWatch) skiff does not serve.
var (
	listParams    = queryParams(metav1.ListOptions{}, "shardSelector")
	deleteColl    = queryParams(metav1.ListOptions{}, "shardSelector", "watch", "allowWatchBookmarks")
	createParams  = queryParams(metav1.CreateOptions{})
	updateParams  = queryParams(metav1.UpdateOptions{})
	patchParams   = queryParams(metav1.PatchOptions{})
	deleteParams  = queryParams(metav1.DeleteOptions{})
	logParams     = queryParams(corev1.PodLogOptions{})
	execParams    = queryParams(corev1.PodExecOptions{})
	attachParams  = queryParams(corev1.PodAttachOptions{})
	forwardParams = queryParams(corev1.PodPortForwardOptions{})
	proxyParams   = queryParams(corev1.PodProxyOptions{})
)

// returnsDeletedObject lists the kinds whose DELETE answers with the object
// rather than a Status, as upstream's storage for them does.
var returnsDeletedObject = map[schema.GroupVersionKind]bool{
	corev1.SchemeGroupVersion.WithKind("Pod"):                   true,
	corev1.SchemeGroupVersion.WithKind("Service"):               true,
	corev1.SchemeGroupVersion.WithKind("PersistentVolume"):      true,
	corev1.SchemeGroupVersion.WithKind("PersistentVolumeClaim"): true,
}

// connectOptions names the option kind of each connect subresource; its GVK
// labels the operation, as upstream does.
var connectOptions = map[string]string{
	"exec":        "PodExecOptions",
	"attach":      "PodAttachOptions",
	"portforward": "PodPortForwardOptions",
}

var proxyOptions = map[string]string{
	"pods":     "PodProxyOptions",
	"services": "ServiceProxyOptions",
	"nodes":    "NodeProxyOptions",
}

// resourceRoutes returns the operations upstream's installer registers for r:
// the collection, the item, the deprecated watch paths, the all-namespaces
// list and every subresource.
func resourceRoutes(r *registry.Resource) []common.Route {
	gv := r.GroupVersion
	prefix, tag := opPrefix(gv)
	gvk := r.GroupVersionKind()
	root := gvPath(gv)
	verbs := r.Verbs
	if verbs == nil {
		verbs = registry.AllVerbs
	}
	has := func(v string) bool { return contains(verbs, v) }

	var obj, list model
	if r.New != nil {
		obj = modelOf(r.New(), gvk)
	}
	if r.NewList != nil {
		list = modelOf(r.NewList(), gvk)
	}
	patchTypes := consumePatch
	if r.New != nil {
		if _, ok := r.New().(*unstructured.Unstructured); ok {
			patchTypes = consumePatchCustom
		}
	}

	// scope is "Namespaced" and the path parameters of namespaced resources.
	scope, collection, watchCollection := "", root+"/"+r.Resource, root+"/watch/"+r.Resource
	var scopeParams []common.Parameter
	if r.Namespaced {
		scope = "Namespaced"
		collection = root + "/namespaces/{namespace}/" + r.Resource
		watchCollection = root + "/watch/namespaces/{namespace}/" + r.Resource
		scopeParams = []common.Parameter{pathParam("namespace", "namespace of the objects")}
	}
	item := collection + "/{name}"
	itemParams := append(append([]common.Parameter(nil), scopeParams...), pathParam("name", "name of the "+r.Kind))

	var routes []common.Route
	add := func(method, path, verb, suffix, desc string, params []common.Parameter, extra []param, meta map[string]any) *route {
		ps := append(append([]common.Parameter(nil), params...), prettyParam)
		for _, p := range extra {
			ps = append(ps, p)
		}
		rt := &route{
			method:      method,
			path:        path,
			opID:        verb + prefix + suffix,
			tag:         tag,
			description: desc,
			params:      ps,
			produces:    produceObject,
			meta:        meta,
		}
		routes = append(routes, rt)
		return rt
	}
	withBody := func(rt *route, body model, required bool, consumes []string) {
		rt.params = append(rt.params, bodyParam(required))
		rt.body = body
		rt.consumes = consumes
	}
	ok := func(sample any, codes ...int) []common.StatusCodeResponse {
		var out []common.StatusCodeResponse
		for _, c := range codes {
			out = append(out, response{code: c, msg: http.StatusText(c), sample: sample})
		}
		return out
	}
	name := scope + r.Kind

	if has("list") && list != "" {
		rt := add("GET", collection, "list", name, "list or watch "+r.Kind+" objects", scopeParams, listParams, gvkMeta(gvk, "list"))
		rt.produces = produceStream
		rt.responses = ok(list, http.StatusOK)
		if r.Namespaced {
			rt := add("GET", root+"/"+r.Resource, "list", r.Kind+"ForAllNamespaces", "list or watch "+r.Kind+" objects in all namespaces", nil, listParams, gvkMeta(gvk, "list"))
			rt.produces = produceStream
			rt.responses = ok(list, http.StatusOK)
		}
	}
	if has("create") && obj != "" {
		rt := add("POST", collection, "create", name, "create a "+r.Kind, scopeParams, createParams, gvkMeta(gvk, "post"))
		withBody(rt, obj, true, consumeAny)
		rt.responses = ok(obj, http.StatusOK, http.StatusCreated, http.StatusAccepted)
	}
	if has("deletecollection") {
		rt := add("DELETE", collection, "delete", "Collection"+name, "delete a collection of "+r.Kind+" objects", scopeParams, append(append([]param(nil), deleteColl...), deleteParams...), gvkMeta(gvk, "deletecollection"))
		withBody(rt, deleteOptsModel, false, consumeAny)
		rt.responses = ok(statusModel, http.StatusOK)
	}
	if has("watch") && has("list") {
		rt := add("GET", watchCollection, "watch", name+"List", "watch changes to a list of "+r.Kind+"; deprecated, use the watch parameter of list", scopeParams, listParams, gvkMeta(gvk, "watchlist"))
		rt.produces = produceStream
		rt.responses = ok(watchEventModel, http.StatusOK)
		if r.Namespaced {
			rt := add("GET", root+"/watch/"+r.Resource, "watch", r.Kind+"ListForAllNamespaces", "watch changes to a list of "+r.Kind+" in all namespaces; deprecated, use the watch parameter of list", nil, listParams, gvkMeta(gvk, "watchlist"))
			rt.produces = produceStream
			rt.responses = ok(watchEventModel, http.StatusOK)
		}
	}
	if has("get") && obj != "" {
		rt := add("GET", item, "read", name, "read the named "+r.Kind, itemParams, nil, gvkMeta(gvk, "get"))
		rt.responses = ok(obj, http.StatusOK)
	}
	if has("update") && obj != "" {
		rt := add("PUT", item, "replace", name, "replace the named "+r.Kind, itemParams, updateParams, gvkMeta(gvk, "put"))
		withBody(rt, obj, true, consumeAny)
		rt.responses = ok(obj, http.StatusOK, http.StatusCreated)
	}
	if has("patch") && obj != "" {
		rt := add("PATCH", item, "patch", name, "partially update the named "+r.Kind, itemParams, patchParams, gvkMeta(gvk, "patch"))
		withBody(rt, patchModel, true, patchTypes)
		rt.responses = ok(obj, http.StatusOK, http.StatusCreated)
	}
	if has("delete") {
		rt := add("DELETE", item, "delete", name, "delete the named "+r.Kind, itemParams, deleteParams, gvkMeta(gvk, "delete"))
		withBody(rt, deleteOptsModel, false, consumeAny)
		if returnsDeletedObject[gvk] && obj != "" {
			rt.responses = ok(obj, http.StatusOK, http.StatusAccepted)
		} else {
			rt.responses = ok(statusModel, http.StatusOK, http.StatusAccepted)
		}
	}
	if has("watch") {
		watchItem := watchCollection + "/{name}"
		rt := add("GET", watchItem, "watch", name, "watch changes to the named "+r.Kind+"; deprecated, use the watch parameter of list with a field selector", itemParams, listParams, gvkMeta(gvk, "watch"))
		rt.produces = produceStream
		rt.responses = ok(watchEventModel, http.StatusOK)
	}

	for _, sub := range r.Subresources {
		subPath := item + "/" + sub
		subName := name + camel(sub, true)
		switch sub {
		case "scale":
			scaleGVK := autoscalingv1.SchemeGroupVersion.WithKind("Scale")
			rt := add("GET", subPath, "read", subName, "read scale of the named "+r.Kind, itemParams, nil, gvkMeta(scaleGVK, "get"))
			rt.responses = ok(scaleModel, http.StatusOK)
			rt = add("PUT", subPath, "replace", subName, "replace scale of the named "+r.Kind, itemParams, updateParams, gvkMeta(scaleGVK, "put"))
			withBody(rt, scaleModel, true, consumeAny)
			rt.responses = ok(scaleModel, http.StatusOK, http.StatusCreated)
			rt = add("PATCH", subPath, "patch", subName, "partially update scale of the named "+r.Kind, itemParams, patchParams, gvkMeta(scaleGVK, "patch"))
			withBody(rt, patchModel, true, patchTypes)
			rt.responses = ok(scaleModel, http.StatusOK, http.StatusCreated)
		case "finalize":
			rt := add("PUT", subPath, "replace", subName, "replace finalize of the named "+r.Kind, itemParams, updateParams, gvkMeta(gvk, "put"))
			withBody(rt, obj, true, consumeAny)
			rt.responses = ok(obj, http.StatusOK, http.StatusCreated)
		case "binding":
			bGVK := corev1.SchemeGroupVersion.WithKind("Binding")
			rt := add("POST", subPath, "create", subName, "create binding of a "+r.Kind, itemParams, createParams, gvkMeta(bGVK, "post"))
			withBody(rt, bindingModel, true, consumeAny)
			rt.responses = ok(bindingModel, http.StatusOK, http.StatusCreated, http.StatusAccepted)
		case "eviction":
			eGVK := policyv1.SchemeGroupVersion.WithKind("Eviction")
			rt := add("POST", subPath, "create", subName, "create eviction of a "+r.Kind, itemParams, createParams, gvkMeta(eGVK, "post"))
			withBody(rt, evictionModel, true, consumeAny)
			rt.responses = ok(evictionModel, http.StatusOK, http.StatusCreated, http.StatusAccepted)
		case "token":
			tGVK := authenticationv1.SchemeGroupVersion.WithKind("TokenRequest")
			rt := add("POST", subPath, "create", subName, "create token of a "+r.Kind, itemParams, createParams, gvkMeta(tGVK, "post"))
			withBody(rt, tokenRequestModel, true, consumeAny)
			rt.responses = ok(tokenRequestModel, http.StatusOK, http.StatusCreated, http.StatusAccepted)
		case "log":
			rt := add("GET", subPath, "read", subName, "read log of the named "+r.Kind, itemParams, logParams, gvkMeta(gvk, "get"))
			rt.produces = produceText
			rt.responses = ok(stringModel, http.StatusOK)
		case "exec", "attach", "portforward":
			optGVK := corev1.SchemeGroupVersion.WithKind(connectOptions[sub])
			extra := map[string][]param{"exec": execParams, "attach": attachParams, "portforward": forwardParams}[sub]
			for _, m := range []string{"GET", "POST"} {
				rt := add(m, subPath, "connect", camel(strings.ToLower(m), true)+subName, "connect "+m+" requests to "+sub+" of "+r.Kind, itemParams, extra, gvkMeta(optGVK, "connect"))
				rt.produces, rt.consumes = produceAny, produceAny
				rt.responses = ok(stringModel, http.StatusOK)
			}
		case "proxy":
			optGVK := corev1.SchemeGroupVersion.WithKind(proxyOptions[r.Resource])
			if optGVK.Kind == "" {
				optGVK = gvk
			}
			withPath := append(append([]common.Parameter(nil), itemParams...), pathParam("path", "path to the resource"))
			for _, m := range []string{"DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT"} {
				verb := camel(strings.ToLower(m), true)
				rt := add(m, subPath, "connect", verb+subName, "connect "+m+" requests to proxy of "+r.Kind, itemParams, proxyParams, gvkMeta(optGVK, "connect"))
				rt.produces, rt.consumes = produceAny, produceAny
				rt.responses = ok(stringModel, http.StatusOK)
				rt = add(m, subPath+"/{path}", "connect", verb+subName+"WithPath", "connect "+m+" requests to proxy of "+r.Kind, withPath, proxyParams, gvkMeta(optGVK, "connect"))
				rt.produces, rt.consumes = produceAny, produceAny
				rt.responses = ok(stringModel, http.StatusOK)
			}
		default:
			// status, approval, ephemeralcontainers, resize and any other
			// subresource that reads and writes the parent object.
			if obj == "" {
				continue
			}
			rt := add("GET", subPath, "read", subName, "read "+sub+" of the named "+r.Kind, itemParams, nil, gvkMeta(gvk, "get"))
			rt.responses = ok(obj, http.StatusOK)
			rt = add("PUT", subPath, "replace", subName, "replace "+sub+" of the named "+r.Kind, itemParams, updateParams, gvkMeta(gvk, "put"))
			withBody(rt, obj, true, consumeAny)
			rt.responses = ok(obj, http.StatusOK, http.StatusCreated)
			rt = add("PATCH", subPath, "patch", subName, "partially update "+sub+" of the named "+r.Kind, itemParams, patchParams, gvkMeta(gvk, "patch"))
			withBody(rt, patchModel, true, patchTypes)
			rt.responses = ok(obj, http.StatusOK, http.StatusCreated)
		}
	}
	return routes
}
