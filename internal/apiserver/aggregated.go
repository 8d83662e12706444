package apiserver

import (
	"mime"
	"net/http"
	"strings"

	apidiscoveryv2 "k8s.io/api/apidiscovery/v2"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"skiff/internal/apiserver/registry"
)

// aggregatedMedia reports whether the client asked for aggregated discovery
// (an APIGroupDiscoveryList) and in which media type.
func aggregatedMedia(r *http.Request) (string, bool) {
	for _, part := range strings.Split(r.Header.Get("Accept"), ",") {
		mt, params, err := mime.ParseMediaType(strings.TrimSpace(part))
		if err != nil {
			continue
		}
		if params["as"] != "APIGroupDiscoveryList" || params["g"] != "apidiscovery.k8s.io" || params["v"] != "v2" {
			continue
		}
		switch mt {
		case mediaJSON, mediaProtobuf:
			return mt, true
		}
	}
	return "", false
}

// serveAggregated answers /api (core=true) or /apis with every group,
// version and resource in one document.
func (s *Server) serveAggregated(w http.ResponseWriter, r *http.Request, media string, core bool) {
	list := &apidiscoveryv2.APIGroupDiscoveryList{TypeMeta: metav1.TypeMeta{Kind: "APIGroupDiscoveryList", APIVersion: "apidiscovery.k8s.io/v2"}}
	for _, g := range s.view.Load().groups {
		if (g.name == "") != core {
			continue
		}
		gd := apidiscoveryv2.APIGroupDiscovery{ObjectMeta: metav1.ObjectMeta{Name: g.name}}
		for _, v := range g.versions {
			gd.Versions = append(gd.Versions, apidiscoveryv2.APIVersionDiscovery{
				Version: v, Resources: s.versionDiscovery(schema.GroupVersion{Group: g.name, Version: v}),
				Freshness: apidiscoveryv2.DiscoveryFreshnessCurrent,
			})
		}
		list.Items = append(list.Items, gd)
	}
	if !core {
		for _, g := range s.remoteGroups() {
			list.Items = append(list.Items, g.aggregatedDiscovery())
		}
	}
	data, err := s.codecs.encode(target{media: media}, list)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	w.Header().Set("Content-Type", media+";g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList")
	w.Header().Set("Vary", "Accept")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(data)
}

func (s *Server) versionDiscovery(gv schema.GroupVersion) []apidiscoveryv2.APIResourceDiscovery {
	var out []apidiscoveryv2.APIResourceDiscovery
	for _, vr := range s.view.Load().ordered {
		r := vr.Resource
		if r.GroupVersion != gv {
			continue
		}
		verbs := r.Verbs
		if verbs == nil {
			verbs = registry.AllVerbs
		}
		scope := apidiscoveryv2.ScopeCluster
		if r.Namespaced {
			scope = apidiscoveryv2.ScopeNamespace
		}
		rd := apidiscoveryv2.APIResourceDiscovery{
			Resource: r.Resource, SingularResource: r.SingularName, Scope: scope, Verbs: verbs,
			ShortNames: r.ShortNames, Categories: r.Categories,
			ResponseKind: &metav1.GroupVersionKind{Group: gv.Group, Version: gv.Version, Kind: r.Kind},
		}
		for _, sub := range r.Subresources {
			shape, ok := subresourceShapes[sub]
			if !ok {
				continue
			}
			kind := metav1.GroupVersionKind{Group: gv.Group, Version: gv.Version, Kind: r.Kind}
			if shape.kind != "" {
				kind.Kind = shape.kind
			}
			if sub == "proxy" {
				kind.Kind = proxyKinds[r.Resource]
			}
			if shape.group != "" || shape.version != "" {
				kind.Group, kind.Version = shape.group, shape.version
			}
			rd.Subresources = append(rd.Subresources, apidiscoveryv2.APISubresourceDiscovery{Subresource: sub, ResponseKind: &kind, Verbs: shape.verbs})
		}
		out = append(out, rd)
	}
	return out
}
