package apiserver

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"sort"
	"strings"
	"sync"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/managedfields"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/kube-openapi/pkg/common"
	"k8s.io/kube-openapi/pkg/util"
	"k8s.io/kube-openapi/pkg/validation/spec"
	"sigs.k8s.io/structured-merge-diff/v6/fieldpath"

	"skiff/internal/apiserver/conversion"
	"skiff/internal/apiserver/registry"
	"skiff/internal/apiserver/registry/apiextensions"
	"skiff/internal/apiserver/watchcache"
	"skiff/internal/storage"
)

// OpenAPIRegistry serves the OpenAPI documents of group versions added at
// run time (openapi.Spec is one).
type OpenAPIRegistry interface {
	AddGroupVersion(gv schema.GroupVersion, resources []*registry.Resource, defs common.GetOpenAPIDefinitions)
	RemoveGroupVersion(gv schema.GroupVersion)
}

// crdManager is the field manager name the server writes CRD status with.
const crdManager = "skiff-apiextensions"

// customAPI is what one established CRD serves.
type customAPI struct {
	uid        string
	generation int64
	group      string
	names      apiextensionsv1.CustomResourceDefinitionNames
	bucket     string
	resources  []*resource
}

// customVersion is what a served custom resource version adds to resource.
type customVersion struct {
	schema *apiextensions.Schema
	// webhook is the CRD's conversion webhook, nil for None conversion;
	// converter calls it.
	webhook   *apiextensionsv1.WebhookConversion
	converter *conversion.Webhook

	mu       sync.Mutex
	conv     managedfields.TypeConverter
	convErr  error
	managers map[string]*managedfields.FieldManager
}

// runCRDs follows the CRD bucket of the watch cache and keeps the served
// custom resources, the CRDs' finalizer and conditions, in step with it.
func (s *Server) runCRDs(ctx context.Context) {
	crdRes, ok := s.lookup(apiextensionsv1.GroupName, "v1", "customresourcedefinitions")
	if !ok {
		return
	}
	select {
	case <-s.cache.Ready():
	case <-ctx.Done():
		return
	}
	for ctx.Err() == nil {
		w, err := s.cache.Watch(crdRes.bucket, crdRes.bucket, 0)
		if err != nil {
			s.log.Error("crd watch failed", "err", err)
			return
		}
		live := map[string]bool{}
		for _, e := range w.Initial() {
			crd := e.Object.(*apiextensionsv1.CustomResourceDefinition)
			live[crd.Name] = true
			s.syncCRD(ctx, crdRes, crd)
		}
		s.viewMu.Lock()
		var gone []string
		for name := range s.custom {
			if !live[name] {
				gone = append(gone, name)
			}
		}
		s.viewMu.Unlock()
		for _, name := range gone {
			s.unregisterCRD(name)
		}
		s.followCRDs(ctx, crdRes, w)
		w.Stop()
	}
}

// followCRDs applies CRD events until the watch ends (the cache reloads or
// the watcher fell behind) or ctx is done.
func (s *Server) followCRDs(ctx context.Context, crdRes *resource, w *watchcache.Watcher) {
	var batch []watchcache.Event
	for {
		select {
		case <-ctx.Done():
			return
		case <-w.Notify():
			var open bool
			if batch, open = w.Take(batch); !open {
				return
			}
			for _, e := range batch {
				crd, ok := crdOf(e.Object)
				if !ok {
					continue
				}
				if e.Type == watch.Deleted {
					s.unregisterCRD(crd.Name)
					s.resyncGroup(ctx, crdRes, crd.Spec.Group)
					continue
				}
				s.syncCRD(ctx, crdRes, crd)
			}
		}
	}
}

// syncCRD brings the served resources and the status of one CRD in line
// with its spec.
func (s *Server) syncCRD(ctx context.Context, crdRes *resource, crd *apiextensionsv1.CustomResourceDefinition) {
	if crd.DeletionTimestamp != nil {
		s.cleanupCRD(ctx, crdRes, crd)
		return
	}
	if !containsString(crd.Finalizers, apiextensionsv1.CustomResourceCleanupFinalizer) {
		_, err := s.update(ctx, crdRes, requestInfo{name: crd.Name}, "", func(cur runtime.Object) (runtime.Object, error) {
			c := cur.(*apiextensionsv1.CustomResourceDefinition)
			if c.DeletionTimestamp == nil && !containsString(c.Finalizers, apiextensionsv1.CustomResourceCleanupFinalizer) {
				c.Finalizers = append(c.Finalizers, apiextensionsv1.CustomResourceCleanupFinalizer)
			}
			return c, nil
		}, writeOptions{fieldManager: crdManager}, nil)
		if err != nil {
			s.log.Error("crd finalizer failed", "crd", crd.Name, "err", err)
		}
	}
	conflict := s.namesConflict(crd)
	if conflict == "" {
		if err := s.registerCRD(ctx, crd); err != nil {
			s.log.Error("crd registration failed", "crd", crd.Name, "err", err)
			conflict = err.Error()
		}
	}
	s.setCRDStatus(ctx, crdRes, crd, conflict)
}

// namesConflict says why crd's names clash with another served resource of
// its group, or "".
func (s *Server) namesConflict(crd *apiextensionsv1.CustomResourceDefinition) string {
	s.viewMu.Lock()
	defer s.viewMu.Unlock()
	n := crd.Spec.Names
	for name, api := range s.custom {
		if name == crd.Name || api.group != crd.Spec.Group {
			continue
		}
		o := api.names
		switch {
		case o.Kind == n.Kind:
			return fmt.Sprintf("%q is already in use", n.Kind)
		case o.ListKind == n.ListKind:
			return fmt.Sprintf("%q is already in use", n.ListKind)
		case o.Singular == n.Singular || o.Plural == n.Singular:
			return fmt.Sprintf("%q is already in use", n.Singular)
		}
		for _, sn := range n.ShortNames {
			if containsString(o.ShortNames, sn) || sn == o.Plural || sn == o.Singular {
				return fmt.Sprintf("%q is already in use", sn)
			}
		}
	}
	for _, r := range s.builtin {
		if r.GroupVersion.Group == crd.Spec.Group && (r.Resource.Resource == n.Plural || r.Kind == n.Kind) {
			return fmt.Sprintf("%q is already in use", n.Plural)
		}
	}
	return ""
}

// registerCRD serves crd's versions (again, when its spec changed).
func (s *Server) registerCRD(ctx context.Context, crd *apiextensionsv1.CustomResourceDefinition) error {
	s.viewMu.Lock()
	cur := s.custom[crd.Name]
	s.viewMu.Unlock()
	if cur != nil && cur.uid == string(crd.UID) && cur.generation == crd.Generation {
		return nil
	}
	versions, err := apiextensions.ResourcesFor(crd)
	if err != nil {
		return err
	}
	api := &customAPI{
		uid: string(crd.UID), generation: crd.Generation, group: crd.Spec.Group, names: crd.Spec.Names,
		bucket: registryPrefix + crd.Spec.Group + "/" + crd.Spec.Names.Plural + "/",
	}
	for i := range versions {
		v := versions[i]
		r := newResource(&v.Resource)
		r.bucket = api.bucket
		r.listGVK = r.GroupVersion.WithKind(v.ListKind)
		r.custom = &customVersion{schema: v.Schema, managers: map[string]*managedfields.FieldManager{},
			webhook: webhookConversion(crd), converter: s.converter}
		api.resources = append(api.resources, r)
	}
	if err := s.cache.AddBucket(ctx, api.bucket); err != nil {
		return err
	}
	s.viewMu.Lock()
	s.custom[crd.Name] = api
	s.rebuildView()
	s.publishOpenAPI(cur, api)
	s.viewMu.Unlock()
	return nil
}

// unregisterCRD stops serving a CRD's resources.
func (s *Server) unregisterCRD(name string) {
	s.viewMu.Lock()
	api, ok := s.custom[name]
	if ok {
		delete(s.custom, name)
		s.rebuildView()
		s.publishOpenAPI(api, nil)
	}
	s.viewMu.Unlock()
	if ok {
		s.cache.RemoveBucket(api.bucket)
	}
}

// publishOpenAPI updates the documents of every group version old or new
// serves, from all custom resources of that group version. The caller
// holds viewMu.
func (s *Server) publishOpenAPI(old, new *customAPI) {
	if s.cfg.OpenAPI == nil {
		return
	}
	gvs := map[schema.GroupVersion]bool{}
	for _, api := range []*customAPI{old, new} {
		if api == nil {
			continue
		}
		for _, r := range api.resources {
			gvs[r.GroupVersion] = true
		}
	}
	for gv := range gvs {
		var resources []*registry.Resource
		var customs []*resource
		for _, api := range s.custom {
			for _, r := range api.resources {
				if r.GroupVersion == gv {
					resources = append(resources, r.Resource)
					customs = append(customs, r)
				}
			}
		}
		if len(resources) == 0 {
			s.cfg.OpenAPI.RemoveGroupVersion(gv)
			continue
		}
		sort.Slice(resources, func(i, j int) bool { return resources[i].Resource < resources[j].Resource })
		s.cfg.OpenAPI.AddGroupVersion(gv, resources, openAPIDefs(customs))
	}
}

// openAPIDefs names each custom resource's schema as upstream does
// ("com.example.v1.Widget").
func openAPIDefs(rs []*resource) common.GetOpenAPIDefinitions {
	return func(ref common.ReferenceCallback) map[string]common.OpenAPIDefinition {
		out := map[string]common.OpenAPIDefinition{}
		for _, r := range rs {
			sch, err := r.custom.schema.SpecSchema()
			if err != nil {
				continue
			}
			withGVK(sch, r.gvk)
			metaRef := ref(metav1.ObjectMeta{}.OpenAPIModelName())
			sch.Properties["metadata"] = *spec.RefSchema(metaRef.String()).WithDescription(metav1.PartialObjectMetadata{}.SwaggerDoc()["metadata"])
			name := util.ToRESTFriendlyName(r.GroupVersion.Group + "/" + r.GroupVersion.Version + "." + r.Kind)
			out[name] = common.OpenAPIDefinition{Schema: *sch, Dependencies: []string{metav1.ObjectMeta{}.OpenAPIModelName()}}
		}
		return out
	}
}

// withGVK adds apiVersion and kind and the group-version-kind extension.
func withGVK(sch *spec.Schema, gvk schema.GroupVersionKind) {
	if sch.Properties == nil {
		sch.Properties = map[string]spec.Schema{}
	}
	for _, k := range []string{"apiVersion", "kind"} {
		if _, ok := sch.Properties[k]; !ok {
			sch.Properties[k] = *spec.StringProperty().WithDescription(metav1.TypeMeta{}.SwaggerDoc()[k])
		}
	}
	sch.AddExtension("x-kubernetes-group-version-kind", []interface{}{
		map[string]interface{}{"group": gvk.Group, "version": gvk.Version, "kind": gvk.Kind},
	})
}

// setCRDStatus writes the NamesAccepted and Established conditions.
func (s *Server) setCRDStatus(ctx context.Context, crdRes *resource, crd *apiextensionsv1.CustomResourceDefinition, conflict string) {
	want := []apiextensionsv1.CustomResourceDefinitionCondition{
		{Type: apiextensionsv1.NamesAccepted, Status: apiextensionsv1.ConditionTrue, Reason: "NoConflicts", Message: "no conflicts found"},
		{Type: apiextensionsv1.Established, Status: apiextensionsv1.ConditionTrue, Reason: "InitialNamesAccepted", Message: "the initial names have been accepted"},
	}
	accepted := crd.Spec.Names
	if conflict != "" {
		want[0] = apiextensionsv1.CustomResourceDefinitionCondition{Type: apiextensionsv1.NamesAccepted, Status: apiextensionsv1.ConditionFalse, Reason: "NameConflict", Message: conflict}
		want[1] = apiextensionsv1.CustomResourceDefinitionCondition{Type: apiextensionsv1.Established, Status: apiextensionsv1.ConditionFalse, Reason: "NotAccepted", Message: "not all names are accepted"}
		accepted = crd.Status.AcceptedNames
	}
	mutate := func(cur runtime.Object) (runtime.Object, error) {
		c := cur.(*apiextensionsv1.CustomResourceDefinition)
		c.Status.AcceptedNames = accepted
		for _, w := range want {
			setCRDCondition(&c.Status, w)
		}
		return c, nil
	}
	changed := !equality.Semantic.DeepEqual(crd.Status.AcceptedNames, accepted)
	for _, w := range want {
		if c := findCRDCondition(crd.Status, w.Type); c == nil || c.Status != w.Status || c.Reason != w.Reason || c.Message != w.Message {
			changed = true
		}
	}
	if !changed {
		return
	}
	if _, err := s.update(ctx, crdRes, requestInfo{name: crd.Name}, "", mutate, writeOptions{fieldManager: crdManager}, &subresourceOps{name: "status"}); err != nil {
		s.log.Error("crd status failed", "crd", crd.Name, "err", err)
	}
}

func findCRDCondition(st apiextensionsv1.CustomResourceDefinitionStatus, t apiextensionsv1.CustomResourceDefinitionConditionType) *apiextensionsv1.CustomResourceDefinitionCondition {
	for i := range st.Conditions {
		if st.Conditions[i].Type == t {
			return &st.Conditions[i]
		}
	}
	return nil
}

func setCRDCondition(st *apiextensionsv1.CustomResourceDefinitionStatus, c apiextensionsv1.CustomResourceDefinitionCondition) {
	c.LastTransitionTime = metav1.Now()
	for i := range st.Conditions {
		if st.Conditions[i].Type == c.Type {
			if st.Conditions[i].Status == c.Status {
				c.LastTransitionTime = st.Conditions[i].LastTransitionTime
			}
			st.Conditions[i] = c
			return
		}
	}
	st.Conditions = append(st.Conditions, c)
}

// cleanupCRD deletes every object of a CRD being deleted, then drops the
// cleanup finalizer so that the CRD itself goes.
func (s *Server) cleanupCRD(ctx context.Context, crdRes *resource, crd *apiextensionsv1.CustomResourceDefinition) {
	if !containsString(crd.Finalizers, apiextensionsv1.CustomResourceCleanupFinalizer) {
		return
	}
	s.unregisterCRD(crd.Name)
	bucket := registryPrefix + crd.Spec.Group + "/" + crd.Spec.Names.Plural + "/"
	for attempt := 0; attempt < 10; attempt++ {
		page, err := s.cfg.Store.List(ctx, bucket, storage.ListOptions{})
		if err != nil {
			s.log.Error("crd cleanup list failed", "crd", crd.Name, "err", err)
			return
		}
		if len(page.KVs) == 0 {
			break
		}
		for _, kv := range page.KVs {
			if _, _, err := s.cfg.Store.Delete(ctx, kv.Key, kv.ModRevision); err != nil && !errors.Is(err, storage.ErrNotFound) && !errors.Is(err, storage.ErrConflict) {
				s.log.Error("crd cleanup delete failed", "key", kv.Key, "err", err)
			}
		}
	}
	_, err := s.update(ctx, crdRes, requestInfo{name: crd.Name}, "", func(cur runtime.Object) (runtime.Object, error) {
		c := cur.(*apiextensionsv1.CustomResourceDefinition)
		var keep []string
		for _, f := range c.Finalizers {
			if f != apiextensionsv1.CustomResourceCleanupFinalizer {
				keep = append(keep, f)
			}
		}
		c.Finalizers = keep
		return c, nil
	}, writeOptions{fieldManager: crdManager}, nil)
	if err != nil {
		s.log.Error("crd finalizer removal failed", "crd", crd.Name, "err", err)
	}
}

// fieldManager returns the managedFields tracker of a custom resource
// version, built from its schema.
func (c *customVersion) fieldManager(res *resource, subresource string) (*managedfields.FieldManager, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.conv == nil && c.convErr == nil {
		c.conv, c.convErr = customTypeConverter(c.schema, res.gvk)
	}
	if c.convErr != nil {
		return nil, c.convErr
	}
	if m, ok := c.managers[subresource]; ok {
		return m, nil
	}
	var reset map[fieldpath.APIVersion]fieldpath.Filter
	if res.HasSubresource("status") {
		path := "status"
		if subresource == "status" {
			path = "spec"
		}
		reset = map[fieldpath.APIVersion]fieldpath.Filter{
			fieldpath.APIVersion(res.GroupVersion.String()): fieldpath.NewExcludeSetFilter(fieldpath.NewSet(fieldpath.MakePathOrDie(path))),
		}
	}
	conv := unstructuredConverter{}
	m, err := managedfields.NewDefaultCRDFieldManager(c.conv, conv, defaulter{res}, conv, res.gvk, res.GroupVersion, subresource, reset)
	if err != nil {
		return nil, fmt.Errorf("field manager for %s: %w", res.gvk, err)
	}
	c.managers[subresource] = m
	return m, nil
}

// metadataSchema is ObjectMeta as apply sees it: every field is declared,
// so that apply refuses unknown metadata fields ("field not declared in
// schema") as upstream does.
const metadataSchema = `{"type":"object","properties":{
"name":{"type":"string"},"namespace":{"type":"string"},"generateName":{"type":"string"},
"selfLink":{"type":"string"},"uid":{"type":"string"},"resourceVersion":{"type":"string"},
"generation":{"type":"integer","format":"int64"},
"creationTimestamp":{"type":"string","format":"date-time"},
"deletionTimestamp":{"type":"string","format":"date-time"},
"deletionGracePeriodSeconds":{"type":"integer","format":"int64"},
"labels":{"type":"object","additionalProperties":{"type":"string"}},
"annotations":{"type":"object","additionalProperties":{"type":"string"}},
"ownerReferences":{"type":"array","x-kubernetes-list-type":"map","x-kubernetes-list-map-keys":["uid"],"items":{"type":"object","properties":{
"apiVersion":{"type":"string"},"kind":{"type":"string"},"name":{"type":"string"},"uid":{"type":"string"},
"controller":{"type":"boolean"},"blockOwnerDeletion":{"type":"boolean"}}}},
"finalizers":{"type":"array","items":{"type":"string"},"x-kubernetes-list-type":"set"},
"managedFields":{"type":"array","items":{"type":"object","x-kubernetes-preserve-unknown-fields":true}}}}`

func customTypeConverter(sch *apiextensions.Schema, gvk schema.GroupVersionKind) (managedfields.TypeConverter, error) {
	s, err := sch.SpecSchema()
	if err != nil {
		return nil, err
	}
	withGVK(s, gvk)
	var meta spec.Schema
	if err := json.Unmarshal([]byte(metadataSchema), &meta); err != nil {
		return nil, err
	}
	s.Properties["metadata"] = meta
	name := util.ToRESTFriendlyName(gvk.Group + "/" + gvk.Version + "." + gvk.Kind)
	return managedfields.NewTypeConverter(map[string]*spec.Schema{name: s}, false)
}

// unstructuredConverter converts custom objects between versions the None
// way (rewriting apiVersion) and creates empty ones.
type unstructuredConverter struct{}

var _ runtime.ObjectConvertor = unstructuredConverter{}

func (unstructuredConverter) Convert(in, out, _ interface{}) error {
	u, ok1 := in.(*unstructured.Unstructured)
	o, ok2 := out.(*unstructured.Unstructured)
	if !ok1 || !ok2 {
		return fmt.Errorf("convert: unstructured objects only")
	}
	o.Object = runtime.DeepCopyJSON(u.Object)
	return nil
}

func (unstructuredConverter) ConvertToVersion(in runtime.Object, gv runtime.GroupVersioner) (runtime.Object, error) {
	u, ok := in.(*unstructured.Unstructured)
	if !ok {
		return nil, fmt.Errorf("convert: unstructured objects only")
	}
	target, ok := gv.KindForGroupVersionKinds([]schema.GroupVersionKind{u.GroupVersionKind()})
	if !ok {
		return nil, fmt.Errorf("convert %s: no target version", u.GroupVersionKind())
	}
	out := u.DeepCopy()
	out.SetGroupVersionKind(target)
	return out, nil
}

func (unstructuredConverter) ConvertFieldLabel(_ schema.GroupVersionKind, label, value string) (string, string, error) {
	return label, value, nil
}

func (unstructuredConverter) New(gvk schema.GroupVersionKind) (runtime.Object, error) {
	u := &unstructured.Unstructured{Object: map[string]interface{}{}}
	u.SetGroupVersionKind(gvk)
	return u, nil
}

// isCustomStored reports whether a stored value is JSON (custom objects)
// rather than protobuf with its "k8s\x00" magic.
func isCustomStored(value []byte) bool {
	return !strings.HasPrefix(string(value), "k8s\x00")
}

// crdOf returns the CRD of a watch event.
func crdOf(obj runtime.Object) (*apiextensionsv1.CustomResourceDefinition, bool) {
	crd, ok := obj.(*apiextensionsv1.CustomResourceDefinition)
	return crd, ok
}

// customAccept drops protobuf from the Accept header of a custom resource
// request (custom objects have no protobuf form; clients that offer JSON
// as well get JSON) and reports whether anything acceptable remains.
func customAccept(r *http.Request) bool {
	accept := r.Header.Get("Accept")
	if accept == "" {
		return true
	}
	var keep []string
	for _, part := range strings.Split(accept, ",") {
		mt, _, err := mime.ParseMediaType(strings.TrimSpace(part))
		if err == nil && mt == mediaProtobuf {
			continue
		}
		keep = append(keep, part)
	}
	if len(keep) == 0 {
		return false
	}
	r.Header.Set("Accept", strings.Join(keep, ","))
	return true
}

// checkUnknownFields reports the fields of a custom object its schema does
// not know, as upstream's field validation does: an error with Strict, a
// Warning header with Warn; the store prunes them either way.
func (s *Server) checkUnknownFields(w http.ResponseWriter, res *resource, obj runtime.Object, validation string) error {
	if res.custom == nil || validation == "Ignore" {
		return nil
	}
	u, ok := obj.(*unstructured.Unstructured)
	if !ok {
		return nil
	}
	unknown := res.custom.schema.UnknownFields(u.Object)
	if len(unknown) == 0 {
		return nil
	}
	if validation == "Strict" {
		msgs := make([]string, len(unknown))
		for i, f := range unknown {
			msgs[i] = fmt.Sprintf("unknown field %q", f)
		}
		return apierrors.NewBadRequest("strict decoding error: " + strings.Join(msgs, ", "))
	}
	for _, f := range unknown {
		w.Header().Add("Warning", fmt.Sprintf(`299 - %q`, fmt.Sprintf("unknown field %q", f)))
	}
	return nil
}

// resyncGroup retries the CRDs of group that are not served, typically
// refused for a names conflict with a CRD that has just gone.
func (s *Server) resyncGroup(ctx context.Context, crdRes *resource, group string) {
	entries, _, err := s.cache.List(crdRes.bucket, crdRes.bucket)
	if err != nil {
		return
	}
	for _, e := range entries {
		crd, ok := crdOf(e.Object)
		if !ok || crd.Spec.Group != group || crd.DeletionTimestamp != nil {
			continue
		}
		s.viewMu.Lock()
		_, served := s.custom[crd.Name]
		s.viewMu.Unlock()
		if !served {
			s.syncCRD(ctx, crdRes, crd)
		}
	}
}
