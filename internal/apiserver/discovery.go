package apiserver

import (
	"net"
	"net/http"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"skiff/internal/apiserver/registry"
)

var schemaGroupResourceNone = schema.GroupResource{}

// subresourceShape is how discovery lists a subresource: the kind it takes
// and returns, and its verbs.
type subresourceShape struct {
	group, version, kind string // empty group/version/kind: the parent's
	verbs                []string
}

var subresourceShapes = map[string]subresourceShape{
	"status":              {verbs: []string{"get", "patch", "update"}},
	"scale":               {group: "autoscaling", version: "v1", kind: "Scale", verbs: []string{"get", "patch", "update"}},
	"binding":             {kind: "Binding", verbs: []string{"create"}},
	"eviction":            {group: "policy", version: "v1", kind: "Eviction", verbs: []string{"create"}},
	"log":                 {kind: "Pod", verbs: []string{"get"}},
	"exec":                {kind: "PodExecOptions", verbs: []string{"create", "get"}},
	"attach":              {kind: "PodAttachOptions", verbs: []string{"create", "get"}},
	"portforward":         {kind: "PodPortForwardOptions", verbs: []string{"create", "get"}},
	"ephemeralcontainers": {verbs: []string{"get", "patch", "update"}},
	"resize":              {verbs: []string{"get", "patch", "update"}},
	"finalize":            {verbs: []string{"update"}},
	"approval":            {verbs: []string{"get", "patch", "update"}},
	"token":               {group: "authentication.k8s.io", version: "v1", kind: "TokenRequest", verbs: []string{"create"}},
	"proxy":               {verbs: []string{"create", "delete", "get", "patch", "update"}},
}

var proxyKinds = map[string]string{"pods": "PodProxyOptions", "nodes": "NodeProxyOptions", "services": "ServiceProxyOptions"}

// apiResourceList builds the discovery document of one group version.
func (s *Server) apiResourceList(group, version string) (*metav1.APIResourceList, bool) {
	gv := schema.GroupVersion{Group: group, Version: version}
	list := &metav1.APIResourceList{TypeMeta: metav1.TypeMeta{Kind: "APIResourceList", APIVersion: "v1"}, GroupVersion: gv.String()}
	found := false
	for _, vr := range s.view.Load().ordered {
		r := vr.Resource
		if r.GroupVersion != gv {
			continue
		}
		found = true
		verbs := r.Verbs
		if verbs == nil {
			verbs = registry.AllVerbs
		}
		list.APIResources = append(list.APIResources, metav1.APIResource{
			Name: r.Resource, SingularName: r.SingularName, Namespaced: r.Namespaced, Kind: r.Kind,
			Verbs: verbs, ShortNames: r.ShortNames, Categories: r.Categories,
		})
		for _, sub := range r.Subresources {
			shape, ok := subresourceShapes[sub]
			if !ok {
				continue
			}
			ar := metav1.APIResource{Name: r.Resource + "/" + sub, Namespaced: r.Namespaced, Kind: r.Kind, Verbs: shape.verbs}
			if shape.kind != "" {
				ar.Kind = shape.kind
			}
			if sub == "proxy" {
				ar.Kind = proxyKinds[r.Resource]
			}
			if shape.group != "" || shape.version != "" {
				ar.Group, ar.Version = shape.group, shape.version
			}
			list.APIResources = append(list.APIResources, ar)
		}
	}
	return list, found
}

func (s *Server) serverAddresses(r *http.Request) []metav1.ServerAddressByClientCIDR {
	host := r.Host
	if _, _, err := net.SplitHostPort(host); err != nil {
		host = net.JoinHostPort(host, "443")
	}
	return []metav1.ServerAddressByClientCIDR{{ClientCIDR: "0.0.0.0/0", ServerAddress: host}}
}

// serveAPIVersions answers /api and /api/v1.
func (s *Server) serveAPIVersions(w http.ResponseWriter, r *http.Request) {
	switch strings.TrimSuffix(r.URL.Path, "/") {
	case "/api":
		if media, ok := aggregatedMedia(r); ok {
			s.serveAggregated(w, r, media, true)
			return
		}
		writeJSON(w, http.StatusOK, &metav1.APIVersions{
			TypeMeta: metav1.TypeMeta{Kind: "APIVersions"}, Versions: []string{"v1"},
			ServerAddressByClientCIDRs: s.serverAddresses(r),
		})
	case "/api/v1":
		list, _ := s.apiResourceList("", "v1")
		writeJSON(w, http.StatusOK, list)
	default:
		s.writeError(w, r, apierrors.NewNotFound(schemaGroupResourceNone, ""))
	}
}

func (s *Server) apiGroup(g groupInfo) metav1.APIGroup {
	out := metav1.APIGroup{TypeMeta: metav1.TypeMeta{Kind: "APIGroup", APIVersion: "v1"}, Name: g.name}
	for _, v := range g.versions {
		out.Versions = append(out.Versions, metav1.GroupVersionForDiscovery{GroupVersion: g.name + "/" + v, Version: v})
	}
	out.PreferredVersion = out.Versions[0]
	return out
}

// serveAPIGroupList answers /apis.
func (s *Server) serveAPIGroupList(w http.ResponseWriter, r *http.Request) {
	if media, ok := aggregatedMedia(r); ok && strings.TrimSuffix(r.URL.Path, "/") == "/apis" {
		s.serveAggregated(w, r, media, false)
		return
	}
	list := &metav1.APIGroupList{TypeMeta: metav1.TypeMeta{Kind: "APIGroupList", APIVersion: "v1"}, Groups: []metav1.APIGroup{}}
	for _, g := range s.view.Load().groups {
		if g.name == "" {
			continue
		}
		ag := s.apiGroup(g)
		ag.TypeMeta = metav1.TypeMeta{}
		list.Groups = append(list.Groups, ag)
	}
	for _, g := range s.remoteGroups() {
		list.Groups = append(list.Groups, g.apiGroup())
	}
	writeJSON(w, http.StatusOK, list)
}

// serveGroupOrVersion answers /apis/{group} and /apis/{group}/{version}.
func (s *Server) serveGroupOrVersion(w http.ResponseWriter, r *http.Request) {
	parts := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	if len(parts) == 1 {
		s.serveAPIGroupList(w, r)
		return
	}
	for _, g := range s.view.Load().groups {
		if g.name == "" || g.name != parts[1] {
			continue
		}
		switch len(parts) {
		case 2:
			ag := s.apiGroup(g)
			writeJSON(w, http.StatusOK, &ag)
			return
		case 3:
			if list, ok := s.apiResourceList(g.name, parts[2]); ok {
				writeJSON(w, http.StatusOK, list)
				return
			}
		}
	}
	if len(parts) == 2 {
		for _, g := range s.remoteGroups() {
			if g.name == parts[1] {
				ag := g.apiGroup()
				ag.TypeMeta = metav1.TypeMeta{Kind: "APIGroup", APIVersion: "v1"}
				writeJSON(w, http.StatusOK, &ag)
				return
			}
		}
	}
	s.writeError(w, r, apierrors.NewNotFound(schemaGroupResourceNone, ""))
}
