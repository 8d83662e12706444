package apiserver

import (
	"net/http"
	"strings"

	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
)

// requestInfo is what a resource URL says.
type requestInfo struct {
	// isResource is false for non-resource paths (/healthz, /version, ...).
	isResource  bool
	apiPrefix   string // "api" or "apis"
	group       string
	version     string
	namespace   string
	resource    string
	name        string
	subresource string
	// parts left after the subresource (pod proxy paths and the like).
	rest []string
	verb string
	// selectedName is the name a list or watch selects with the field
	// selector metadata.name=<name>; authorization checks it as the
	// request's name, as upstream does, so that a role limited to
	// resourceNames can list and watch its objects.
	selectedName string
	// fields is the field selector of a list or watch.
	fields fields.Requirements
	// labels is the label selector of a list or watch.
	labels labels.Requirements
}

// authorizedName is the name authorization sees: the URL's, or the one a
// list or watch selects.
func (i requestInfo) authorizedName() string {
	if i.name != "" {
		return i.name
	}
	return i.selectedName
}

// namespaceSubresources are the subresources of a namespace, which the URL
// would otherwise read as resources inside it.
var namespaceSubresources = map[string]bool{"status": true, "finalize": true}

// parseRequestInfo reads r's path the way kube-apiserver does:
//
//	/api/v1/namespaces/{ns}/{resource}/{name}/{subresource}
//	/apis/{group}/{version}/{resource}/{name}/{subresource}
//	/apis/{group}/{version}/watch/... (legacy watch paths)
func parseRequestInfo(r *http.Request) requestInfo {
	path := strings.Trim(r.URL.Path, "/")
	parts := strings.Split(path, "/")
	info := requestInfo{}
	if len(parts) == 0 {
		return info
	}
	switch parts[0] {
	case "api":
		if len(parts) < 3 {
			return info
		}
		info.apiPrefix, info.version = "api", parts[1]
		parts = parts[2:]
	case "apis":
		if len(parts) < 4 {
			return info
		}
		info.apiPrefix, info.group, info.version = "apis", parts[1], parts[2]
		parts = parts[3:]
	default:
		return info
	}
	info.isResource = true

	watchPath := false
	if parts[0] == "watch" {
		watchPath = true
		parts = parts[1:]
		if len(parts) == 0 {
			info.isResource = false
			return info
		}
	}
	if parts[0] == "namespaces" && len(parts) > 1 {
		info.namespace = parts[1]
		if len(parts) > 2 && !namespaceSubresources[parts[2]] {
			parts = parts[2:]
		}
	}
	info.resource = parts[0]
	if len(parts) > 1 {
		info.name = parts[1]
	}
	if len(parts) > 2 {
		info.subresource = parts[2]
	}
	if len(parts) > 3 {
		info.rest = parts[3:]
	}
	// A namespace's own URL names the namespace, not a namespace scope.
	if info.resource == "namespaces" {
		info.namespace = ""
	}

	q := r.URL.Query()
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		switch {
		case watchPath || (info.name == "" && isTrue(q.Get("watch"))):
			info.verb = "watch"
		case info.name == "":
			info.verb = "list"
		default:
			info.verb = "get"
		}
	case http.MethodPost:
		info.verb = "create"
	case http.MethodPut:
		info.verb = "update"
	case http.MethodPatch:
		info.verb = "patch"
	case http.MethodDelete:
		if info.name == "" {
			info.verb = "deletecollection"
		} else {
			info.verb = "delete"
		}
	default:
		info.verb = strings.ToLower(r.Method)
	}
	if info.verb == "list" || info.verb == "watch" {
		if fs, err := fields.ParseSelector(q.Get("fieldSelector")); err == nil {
			info.selectedName, _ = fs.RequiresExactMatch("metadata.name")
			if r := fs.Requirements(); len(r) > 0 {
				info.fields = r
			}
		}
		if ls, err := labels.Parse(q.Get("labelSelector")); err == nil {
			if r, _ := ls.Requirements(); len(r) > 0 {
				info.labels = r
			}
		}
	}
	return info
}

func isTrue(s string) bool { return s == "true" || s == "1" }
