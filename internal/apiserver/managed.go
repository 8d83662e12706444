package apiserver

import (
	"fmt"
	"net/http"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/managedfields"
	"sigs.k8s.io/structured-merge-diff/v6/fieldpath"
	"sigs.k8s.io/structured-merge-diff/v6/typed"
	"sigs.k8s.io/structured-merge-diff/v6/value"
	"sigs.k8s.io/yaml"
)

// fieldManagers keeps one managedfields.FieldManager per kind and
// subresource, built on first use from the OpenAPI-derived type converter.
type fieldManagers struct {
	newConverter func() (managedfields.TypeConverter, error)
	scheme       *runtime.Scheme

	mu       sync.Mutex
	conv     managedfields.TypeConverter
	managers map[string]*fieldManager
}

// defaulter applies a resource's strategy defaults, which is what upstream's
// scheme defaulting does for the field manager.
type defaulter struct{ res *resource }

func (d defaulter) Default(obj runtime.Object) {
	if d.res.Strategy.Default != nil {
		d.res.Strategy.Default(obj)
	}
}

func (f *fieldManagers) get(res *resource, subresource string) (*managedfields.FieldManager, error) {
	m, err := f.lookup(res, subresource)
	if err != nil {
		return nil, err
	}
	return m.fm, nil
}

// lookup returns the field manager of res's kind and subresource, with the
// reset filter it was built from and the empty object a create is
// compared with.
func (f *fieldManagers) lookup(res *resource, subresource string) (*fieldManager, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.conv == nil {
		c, err := f.newConverter()
		if err != nil {
			return nil, fmt.Errorf("type converter: %w", err)
		}
		f.conv = c
	}
	key := res.gvk.String() + "/" + subresource
	if m, ok := f.managers[key]; ok {
		return m, nil
	}
	m := &fieldManager{version: fieldpath.APIVersion(res.GroupVersion.String())}
	var reset map[fieldpath.APIVersion]fieldpath.Filter
	if res.HasSubresource("status") {
		path := "status"
		if subresource == "status" {
			path = "spec"
		}
		m.reset = fieldpath.NewExcludeSetFilter(fieldpath.NewSet(fieldpath.MakePathOrDie(path)))
		reset = map[fieldpath.APIVersion]fieldpath.Filter{m.version: m.reset}
	}
	fm, err := managedfields.NewDefaultFieldManager(f.conv, f.scheme, defaulter{res}, f.scheme, res.gvk, res.GroupVersion, subresource, reset)
	if err != nil {
		return nil, fmt.Errorf("field manager for %s: %w", res.gvk, err)
	}
	m.fm = fm
	empty := res.New()
	setGVK(empty, res.gvk)
	if m.empty, err = f.conv.ObjectToTyped(empty, typed.AllowDuplicates); err != nil {
		return nil, fmt.Errorf("field manager for %s: %w", res.gvk, err)
	}
	m.emptyValue = m.empty.AsValue().Unstructured()
	f.managers[key] = m
	return m, nil
}

// fieldManager is upstream's field manager for one kind and subresource,
// with what createEntries needs to record a create without it.
type fieldManager struct {
	fm      *managedfields.FieldManager
	version fieldpath.APIVersion
	reset   fieldpath.Filter // fields the main resource does not own (status), or nil
	// empty is an object of the kind with nothing set but its apiVersion
	// and kind: what a create is compared with.
	empty *typed.TypedValue
	// emptyValue is empty in its unstructured form.
	emptyValue any
}

// strippedFields are the fields no manager owns, as upstream strips them.
var strippedFields = fieldpath.NewSet(
	fieldpath.MakePathOrDie("apiVersion"),
	fieldpath.MakePathOrDie("kind"),
	fieldpath.MakePathOrDie("metadata"),
	fieldpath.MakePathOrDie("metadata", "name"),
	fieldpath.MakePathOrDie("metadata", "namespace"),
	fieldpath.MakePathOrDie("metadata", "creationTimestamp"),
	fieldpath.MakePathOrDie("metadata", "selfLink"),
	fieldpath.MakePathOrDie("metadata", "uid"),
	fieldpath.MakePathOrDie("metadata", "clusterName"),
	fieldpath.MakePathOrDie("metadata", "generation"),
	fieldpath.MakePathOrDie("metadata", "managedFields"),
	fieldpath.MakePathOrDie("metadata", "resourceVersion"),
)

// createEntries computes the managedFields of a newly created obj that
// carries none, as upstream's field manager does (one Update entry of
// manager owning what differs from an empty object of the kind), found by
// createdFields' walk or, where it stops, by the comparison, without the
// conversions and bookkeeping of upstream's general update path. ok is
// false when obj needs the full field manager.
func (m *fieldManager) createEntries(obj runtime.Object, manager string) (entries []metav1.ManagedFieldsEntry, ok bool) {
	set, err := m.createdFields(obj)
	if err != nil {
		if set, err = m.compareWithEmpty(obj); err != nil {
			return nil, false
		}
	}
	if m.reset != nil {
		set = m.reset.Filter(set)
	}
	set = set.Difference(strippedFields)
	if set.Empty() {
		return nil, true
	}
	raw, err := set.ToJSON()
	if err != nil {
		return nil, false
	}
	if manager == "" {
		manager = "unknown"
	}
	return []metav1.ManagedFieldsEntry{{
		Manager:    manager,
		Operation:  metav1.ManagedFieldsOperationUpdate,
		APIVersion: string(m.version),
		Time:       &metav1.Time{Time: time.Now().UTC()},
		FieldsType: "FieldsV1",
		FieldsV1:   &metav1.FieldsV1{Raw: raw},
	}}, true
}

// compareWithEmpty is what differs between obj and an empty object of the
// kind, by structured-merge-diff's comparison. A built-in object is its
// own Go type, whose schema is generated from that type, so it is taken as
// conforming without the validation walk, which would cost as much as the
// comparison: the comparison still reports what validation would find in
// a list item (a missing key field).
func (m *fieldManager) compareWithEmpty(obj runtime.Object) (*fieldpath.Set, error) {
	v, err := value.NewValueReflect(obj)
	if err != nil {
		return nil, err
	}
	cmp, err := m.empty.Compare(typed.AsTypedUnvalidated(v, m.empty.Schema(), m.empty.TypeRef()))
	if err != nil {
		return nil, err
	}
	return cmp.Modified.Union(cmp.Added), nil
}

func (s *Server) trackCreate(res *resource, obj runtime.Object, manager string) error {
	return s.trackUpdate(res, obj, nil, manager, "")
}

// trackUpdate records in obj's managedFields that manager changed old into obj.
func (s *Server) trackUpdate(res *resource, obj, old runtime.Object, manager, subresource string) error {
	if (s.fields == nil && res.custom == nil) || !trackedSubresource(subresource) {
		return nil
	}
	// Built-in kinds come with what a create's fast path needs (m).
	var fm *managedfields.FieldManager
	var m *fieldManager
	var err error
	if res.custom != nil {
		fm, err = res.custom.fieldManager(res, subresource)
	} else if m, err = s.fields.lookup(res, subresource); err == nil {
		fm = m.fm
	}
	if err != nil {
		s.log.Error("managed fields unavailable", "kind", res.gvk, "err", err)
		return nil
	}
	if m != nil && old == nil && len(accessor(obj).GetManagedFields()) == 0 {
		if entries, ok := m.createEntries(obj, manager); ok {
			accessor(obj).SetManagedFields(entries)
			return nil
		}
	}
	if old == nil {
		old = res.New()
		setGVK(old, res.gvk)
	}
	out := fm.UpdateNoErrors(old, obj, manager)
	accessor(obj).SetManagedFields(accessor(out).GetManagedFields())
	return nil
}

func trackedSubresource(sub string) bool {
	return sub == "" || sub == "status" || sub == "scale"
}

// handleApply serves server-side apply (PATCH with application/apply-patch+yaml).
func (s *Server) handleApply(w http.ResponseWriter, r *http.Request, res *resource, info requestInfo, t target, patch []byte, opts writeOptions, sub *subresourceOps) {
	if (s.fields == nil && res.custom == nil) || (sub != nil && sub.name != "status") {
		s.writeError(w, r, errUnsupportedMediaType(r.Header.Get("Content-Type")))
		return
	}
	if r.Header.Get("Content-Type") == string(types.ApplyCBORPatchType) {
		s.writeError(w, r, errUnsupportedMediaType(r.Header.Get("Content-Type")))
		return
	}
	q := r.URL.Query()
	if q.Get("fieldManager") == "" {
		s.writeError(w, r, apierrors.NewBadRequest("PatchOptions.meta.k8s.io \"\" is invalid: fieldManager: Required value: is required for apply patch"))
		return
	}
	force := isTrue(q.Get("force"))
	applied := &unstructured.Unstructured{Object: map[string]interface{}{}}
	if err := yaml.Unmarshal(patch, &applied.Object); err != nil {
		s.writeError(w, r, apierrors.NewBadRequest(fmt.Sprintf("error decoding YAML: %v", err)))
		return
	}
	if err := duplicateFields(w, patch, opts.fieldValidation); err != nil {
		s.writeError(w, r, err)
		return
	}
	if applied.GetAPIVersion() != res.GroupVersion.String() || applied.GetKind() != res.Kind {
		s.writeError(w, r, apierrors.NewBadRequest(fmt.Sprintf("the API version in the data (%s) does not match the expected API version (%s)", applied.GetAPIVersion(), res.GroupVersion)))
		return
	}
	if applied.GetName() != "" && applied.GetName() != info.name {
		s.writeError(w, r, apierrors.NewBadRequest(fmt.Sprintf("the name of the object (%s) does not match the name on the URL (%s)", applied.GetName(), info.name)))
		return
	}
	subName := ""
	if sub != nil {
		subName = sub.name
	}
	fm, err := s.fieldManager(res, subName)
	if err != nil {
		s.writeError(w, r, apierrors.NewInternalError(err))
		return
	}
	opts.applied = true
	mutate := func(current runtime.Object) (runtime.Object, error) {
		out, err := fm.Apply(current, applied, opts.fieldManager, force)
		if err != nil {
			return nil, applyError(err)
		}
		setGVK(out, res.gvk)
		return out, nil
	}
	out, err := s.update(r.Context(), res, info, "", mutate, opts, sub)
	if apierrors.IsNotFound(err) && sub == nil {
		// Apply creates what does not exist yet.
		empty := res.New()
		setGVK(empty, res.gvk)
		accessor(empty).SetName(info.name)
		accessor(empty).SetNamespace(info.namespace)
		obj, aerr := fm.Apply(empty, applied, opts.fieldManager, force)
		if aerr != nil {
			s.writeError(w, r, applyError(aerr))
			return
		}
		setGVK(obj, res.gvk)
		created, _, cerr := s.create(r.Context(), res, info.namespace, obj, opts)
		if cerr != nil {
			s.writeError(w, r, cerr)
			return
		}
		s.writeRead(w, r, res, t, http.StatusCreated, created)
		return
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	s.writeRead(w, r, res, t, http.StatusOK, out)
}

// duplicateFields applies fieldValidation to keys an apply patch sets twice
// in one map: an error with Strict, a Warning header with Warn.
func duplicateFields(w http.ResponseWriter, patch []byte, validation string) error {
	if validation == "Ignore" {
		return nil
	}
	var probe map[string]interface{}
	err := yaml.UnmarshalStrict(patch, &probe)
	if err == nil {
		return nil
	}
	if validation == "Strict" {
		return apierrors.NewBadRequest("strict decoding error: " + err.Error())
	}
	w.Header().Add("Warning", fmt.Sprintf("299 - %q", err.Error()))
	return nil
}

func applyError(err error) error {
	if _, ok := err.(apierrors.APIStatus); ok {
		return err
	}
	return patchFailed(err)
}

// fieldManager returns the managedFields tracker of res: from the CRD
// schema for custom resources, from the built-in schemas otherwise.
func (s *Server) fieldManager(res *resource, subresource string) (*managedfields.FieldManager, error) {
	if res.custom != nil {
		return res.custom.fieldManager(res, subresource)
	}
	return s.fields.get(res, subresource)
}
