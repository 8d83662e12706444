package openapi

import (
	"errors"
	"fmt"
	apiextensionsopenapi "k8s.io/apiextensions-apiserver/pkg/generated/openapi"
	"net/http"
	"sync"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/managedfields"
	"k8s.io/kube-openapi/pkg/builder"
	"k8s.io/kube-openapi/pkg/builder3"
	"k8s.io/kube-openapi/pkg/common"
	"k8s.io/kube-openapi/pkg/spec3"
	"k8s.io/kube-openapi/pkg/util"
	"k8s.io/kube-openapi/pkg/validation/spec"

	"skiff/internal/apiserver/openapi/generated"
	"skiff/internal/apiserver/registry"
)

// Paths the documents are served at.
const (
	V2Path = "/openapi/v2"
	V3Path = "/openapi/v3"
)

// Config configures New.
type Config struct {
	// Scheme knows every served kind; the x-kubernetes-group-version-kind
	// extensions of the definitions come from it. Required.
	Scheme *runtime.Scheme
	// Resources are the built-in resources; each group version among them
	// gets a v3 document.
	Resources []*registry.Resource
	// Definitions returns the schemas of the built-in types; nil means the
	// generated ones (generated.GetOpenAPIDefinitions).
	Definitions common.GetOpenAPIDefinitions
	// Title and Version fill the documents' info; defaults "Kubernetes" and
	// "unversioned".
	Title   string
	Version string
}

func (c *Config) validate() error {
	if c.Scheme == nil {
		return errors.New("new openapi: Config.Scheme is required")
	}
	for _, r := range c.Resources {
		if r == nil || r.Resource == "" || r.Kind == "" {
			return fmt.Errorf("new openapi: resource %+v needs Resource and Kind", r)
		}
	}
	return nil
}

// Spec builds and serves the OpenAPI v2 and v3 documents of the API server
// and the structured-merge-diff TypeConverter built from the same schemas.
// Everything is built on first use and cached; changing the set of group
// versions drops only the documents it affects.
type Spec struct {
	defs  common.GetOpenAPIDefinitions
	info  *spec.Info
	index gvkIndex

	mu     sync.Mutex
	groups map[schema.GroupVersion]*groupVersion

	v2 *v2Service
	v3 *v3Service

	tcOnce sync.Once
	tc     managedfields.TypeConverter
	tcErr  error
}

// groupVersion is what one /openapi/v3/<key> document is built from.
type groupVersion struct {
	gv        schema.GroupVersion
	resources []*registry.Resource
	// defs adds definitions the built-in ones lack (custom resources).
	defs common.GetOpenAPIDefinitions
}

// described reports whether the definitions describe r's kind. Those of
// metrics.k8s.io do not: k8s.io/metrics ships its types without OpenAPI
// definitions, so its resources are left out of the documents, as those
// of an aggregated server that publishes none would be.
func described(known map[string]common.OpenAPIDefinition, r *registry.Resource) bool {
	if r.New == nil {
		return true
	}
	obj := r.New()
	if _, ok := obj.(*unstructured.Unstructured); ok {
		return true
	}
	_, ok := known[util.GetCanonicalTypeName(obj)]
	return ok
}

// New returns a Spec for cfg. It builds nothing yet. Resources whose kind
// the definitions do not describe are left out.
func New(cfg Config) (*Spec, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if cfg.Definitions == nil {
		cfg.Definitions = builtinDefinitions
	}
	if cfg.Title == "" {
		cfg.Title = "Kubernetes"
	}
	if cfg.Version == "" {
		cfg.Version = "unversioned"
	}
	s := &Spec{
		defs:   cfg.Definitions,
		info:   &spec.Info{InfoProps: spec.InfoProps{Title: cfg.Title, Version: cfg.Version}},
		index:  newGVKIndex(cfg.Scheme),
		groups: map[schema.GroupVersion]*groupVersion{},
		v3:     newV3Service(),
	}
	known := s.defs(func(string) spec.Ref { return spec.Ref{} })
	for _, r := range cfg.Resources {
		if !described(known, r) {
			continue
		}
		g := s.groups[r.GroupVersion]
		if g == nil {
			g = &groupVersion{gv: r.GroupVersion}
			s.groups[r.GroupVersion] = g
		}
		g.resources = append(g.resources, r)
	}
	for _, g := range s.groups {
		s.v3.set(gvKey(g.gv), func() (*spec3.OpenAPI, error) { return s.buildV3(g) })
	}
	s.v2 = newV2Service(s.BuildV2)
	return s, nil
}

// AddGroupVersion serves (or replaces) the documents of gv with resources.
// defs supplies definitions the built-in ones lack, such as a custom
// resource's schema named as upstream names it ("com.example.v1.Widget");
// it may be nil. The v2 document is rebuilt on its next request.
func (s *Spec) AddGroupVersion(gv schema.GroupVersion, resources []*registry.Resource, defs common.GetOpenAPIDefinitions) {
	g := &groupVersion{gv: gv, resources: resources, defs: defs}
	s.mu.Lock()
	s.groups[gv] = g
	s.mu.Unlock()
	s.v3.set(gvKey(gv), func() (*spec3.OpenAPI, error) { return s.buildV3(g) })
	s.v2.invalidate()
}

// RemoveGroupVersion stops serving gv.
func (s *Spec) RemoveGroupVersion(gv schema.GroupVersion) {
	s.mu.Lock()
	_, ok := s.groups[gv]
	delete(s.groups, gv)
	s.mu.Unlock()
	if !ok {
		return
	}
	s.v3.remove(gvKey(gv))
	s.v2.invalidate()
}

// snapshot returns the group versions, sorted so documents are stable.
func (s *Spec) snapshot() []*groupVersion {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]*groupVersion, 0, len(s.groups))
	for _, g := range s.groups {
		out = append(out, g)
	}
	sortGroups(out)
	return out
}

// definitions merges the built-in definitions with those of groups.
func (s *Spec) definitions(groups []*groupVersion) common.GetOpenAPIDefinitions {
	var extra []common.GetOpenAPIDefinitions
	for _, g := range groups {
		if g.defs != nil {
			extra = append(extra, g.defs)
		}
	}
	if len(extra) == 0 {
		return s.defs
	}
	return func(ref common.ReferenceCallback) map[string]common.OpenAPIDefinition {
		m := s.defs(ref)
		for _, d := range extra {
			for k, v := range d(ref) {
				m[k] = v
			}
		}
		return m
	}
}

// namer returns the definition namer for groups: the scheme's kinds plus
// the kinds of resources it does not know (custom resources).
func (s *Spec) namer(groups []*groupVersion) func(string) (string, spec.Extensions) {
	extra := map[string][]schema.GroupVersionKind{}
	for _, g := range groups {
		if g.defs == nil {
			continue
		}
		for _, r := range g.resources {
			if r.New == nil {
				continue
			}
			name := string(modelOf(r.New(), r.GroupVersionKind()))
			extra[name] = append(extra[name], r.GroupVersionKind())
		}
	}
	return s.index.with(extra).definitionName
}

func routesOf(g *groupVersion) common.RouteContainer {
	c := &container{root: gvPath(g.gv)}
	for _, r := range g.resources {
		c.routes = append(c.routes, resourceRoutes(r)...)
	}
	return c
}

// BuildV3 builds the v3 document of gv, as served at /openapi/v3/<key>.
func (s *Spec) BuildV3(gv schema.GroupVersion) (*spec3.OpenAPI, error) {
	s.mu.Lock()
	g, ok := s.groups[gv]
	s.mu.Unlock()
	if !ok {
		return nil, fmt.Errorf("build openapi v3 %s: group version not served", gv)
	}
	return s.buildV3(g)
}

func (s *Spec) buildV3(g *groupVersion) (*spec3.OpenAPI, error) {
	groups := []*groupVersion{g}
	cfg := &common.OpenAPIV3Config{
		Info:                           s.info,
		GetDefinitions:                 s.definitions(groups),
		GetDefinitionName:              s.namer(groups),
		GetOperationIDAndTagsFromRoute: operationIDAndTags,
		CommonResponses: map[int]*spec3.Response{
			http.StatusUnauthorized: {ResponseProps: spec3.ResponseProps{Description: "Unauthorized"}},
		},
		SecuritySchemes: spec3.SecuritySchemes{"BearerToken": bearerScheme()},
		DefaultSecurity: []map[string][]string{{"BearerToken": {}}},
	}
	doc, err := builder3.BuildOpenAPISpecFromRoutes([]common.RouteContainer{routesOf(g)}, cfg)
	if err != nil {
		return nil, fmt.Errorf("build openapi v3 %s: %w", g.gv, err)
	}
	doc.SecurityRequirement = cfg.DefaultSecurity
	return doc, nil
}

func bearerScheme() *spec3.SecurityScheme {
	return &spec3.SecurityScheme{SecuritySchemeProps: spec3.SecuritySchemeProps{
		Type: "apiKey", Name: "authorization", In: "header",
		Description: "Bearer token authentication",
	}}
}

func (s *Spec) v2Config(groups []*groupVersion) *common.Config {
	return &common.Config{
		Info:                           s.info,
		GetDefinitions:                 s.definitions(groups),
		GetDefinitionName:              s.namer(groups),
		GetOperationIDAndTagsFromRoute: operationIDAndTags,
		CommonResponses: map[int]spec.Response{
			http.StatusUnauthorized: {ResponseProps: spec.ResponseProps{Description: "Unauthorized"}},
		},
		SecurityDefinitions: &spec.SecurityDefinitions{"BearerToken": &spec.SecurityScheme{
			SecuritySchemeProps: spec.SecuritySchemeProps{
				Type: "apiKey", Name: "authorization", In: "header",
				Description: "Bearer token authentication",
			},
		}},
		DefaultSecurity: []map[string][]string{{"BearerToken": {}}},
	}
}

// BuildV2 builds the v2 document of every served group version, as served
// at /openapi/v2.
func (s *Spec) BuildV2() (*spec.Swagger, error) {
	groups := s.snapshot()
	containers := make([]common.RouteContainer, 0, len(groups))
	for _, g := range groups {
		containers = append(containers, routesOf(g))
	}
	doc, err := builder.BuildOpenAPISpecFromRoutes(containers, s.v2Config(groups))
	if err != nil {
		return nil, fmt.Errorf("build openapi v2: %w", err)
	}
	for name, def := range doc.Definitions {
		if v2Opaque(&def) {
			doc.Definitions[name] = spec.Schema{
				SchemaProps:      spec.SchemaProps{Type: []string{"object"}},
				VendorExtensible: spec.VendorExtensible{Extensions: spec.Extensions{extGVK: def.Extensions[extGVK]}},
			}
		}
	}
	return doc, nil
}

// v2Opaque reports whether a kind's schema keeps unknown fields at its
// root. v2 publishes such a kind as a bare object, as upstream does for
// custom resources: kubectl's v2 validation would otherwise refuse every
// field the schema does not list.
func v2Opaque(def *spec.Schema) bool {
	if _, ok := def.Extensions[extGVK]; !ok {
		return false
	}
	preserve, ok := def.Extensions.GetBool("x-kubernetes-preserve-unknown-fields")
	return ok && preserve
}

// Definitions returns every built-in definition the way v2 renders it:
// keyed by REST friendly name, kinds carrying their GVK extension. The
// caller owns the map; Spec keeps no copy.
func (s *Spec) Definitions() (map[string]*spec.Schema, error) {
	var names []string
	for name := range s.defs(func(string) spec.Ref { return spec.Ref{} }) {
		names = append(names, name)
	}
	doc, err := builder.BuildOpenAPIDefinitionsForResources(s.v2Config(nil), names...)
	if err != nil {
		return nil, fmt.Errorf("build openapi definitions: %w", err)
	}
	out := make(map[string]*spec.Schema, len(doc.Definitions))
	for name, def := range doc.Definitions {
		out[name] = &def
	}
	return out, nil
}

// TypeConverter returns the converter server-side apply and managedFields
// use for the built-in kinds, building it on first call.
func (s *Spec) TypeConverter() (managedfields.TypeConverter, error) {
	s.tcOnce.Do(func() {
		defs, err := s.Definitions()
		if err != nil {
			s.tcErr = err
			return
		}
		s.tc, s.tcErr = managedfields.NewTypeConverter(defs, false)
		if s.tcErr != nil {
			s.tcErr = fmt.Errorf("build type converter: %w", s.tcErr)
		}
	})
	return s.tc, s.tcErr
}

// Mux is where Install registers the handlers; *http.ServeMux is one.
type Mux interface {
	Handle(pattern string, h http.Handler)
}

// Install serves /openapi/v2, /openapi/v3 and /openapi/v3/<group version>
// on mux, speaking the protocol of kube-openapi's handler and handler3:
// JSON or protobuf by Accept, ETags, and v3 URLs carrying a content hash.
// The handlers are local so that only encoded bytes are kept (see
// v3Cached) and no gzip module is needed.
func (s *Spec) Install(mux Mux) {
	mux.Handle(V2Path, s.v2)
	mux.Handle(V3Path, http.HandlerFunc(s.v3.serveIndex))
	mux.Handle(V3Path+"/", http.HandlerFunc(s.v3.serveGroup))
}

// Handler returns a handler serving only the OpenAPI paths.
func (s *Spec) Handler() http.Handler {
	mux := http.NewServeMux()
	s.Install(mux)
	return mux
}

// builtinDefinitions are the generated definitions of k8s.io/api plus those
// of apiextensions.k8s.io (CustomResourceDefinition and its parts).
func builtinDefinitions(ref common.ReferenceCallback) map[string]common.OpenAPIDefinition {
	m := generated.GetOpenAPIDefinitions(ref)
	for k, v := range apiextensionsopenapi.GetOpenAPIDefinitions(ref) {
		if _, ok := m[k]; !ok {
			m[k] = v
		}
	}
	return m
}
