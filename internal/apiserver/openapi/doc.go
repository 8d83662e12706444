// Package openapi builds and serves the API server's OpenAPI documents and
// the structured-merge-diff TypeConverter built from the same schemas.
//
// Schemas come from the definitions openapi-gen generates into the
// generated subpackage (regenerate with hack/update-openapi.sh); they are
// keyed by REST friendly names ("io.k8s.api.core.v1.Pod") and every kind
// carries x-kubernetes-group-version-kind, listing each group version the
// scheme registers it under (DeleteOptions, WatchEvent, ... list many).
//
// Paths follow upstream's installer: for each registry.Resource the
// collection (list, create, deletecollection), the item (read, replace,
// patch, delete), the deprecated watch paths, the all-namespaces list and
// every subresource, with upstream's operation IDs
// ("patchAppsV1NamespacedDeployment"), x-kubernetes-action, query parameters
// taken from the option types (ListOptions, PatchOptions, ...) and request
// and response bodies. kube-openapi's builders render them as v2 and v3.
//
// Nothing is built until first asked for. Served documents keep only their
// encoded bytes: all of v2, and the v3 documents of the few most recently
// requested group versions (the rest keep their hash and are rebuilt on
// demand). The caller must:
//
//	s, err := openapi.New(openapi.Config{Scheme: scheme, Resources: resources})
//	s.Install(mux)                 // /openapi/v2, /openapi/v3, /openapi/v3/...
//	tc, err := s.TypeConverter()   // for managedfields.NewDefaultFieldManager
//	s.AddGroupVersion(gv, rs, defs) // custom resources, at run time
//	s.RemoveGroupVersion(gv)
package openapi
