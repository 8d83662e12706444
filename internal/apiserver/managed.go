package apiserver

import (
	"fmt"
	"net/http"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/managedfields"
	"sigs.k8s.io/yaml"

	"skiff/internal/apiserver/fieldmanager"
)

// defaulter applies a resource's strategy defaults, which is what upstream's
// scheme defaulting does for the field manager.
type defaulter struct{ res *resource }

func (d defaulter) Default(obj runtime.Object) {
	if d.res.Strategy.Default != nil {
		d.res.Strategy.Default(obj)
	}
}

// fieldKind describes res to the built-in field managers.
func fieldKind(res *resource) fieldmanager.Kind {
	return fieldmanager.Kind{GVK: res.gvk, New: res.New, Default: res.Strategy.Default, HasStatus: res.HasSubresource("status")}
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
	var m *fieldmanager.Manager
	var err error
	if res.custom != nil {
		fm, err = res.custom.fieldManager(res, subresource)
	} else if m, err = s.fields.Get(fieldKind(res), subresource); err == nil {
		fm = m.FieldManager
	}
	if err != nil {
		s.log.Error("managed fields unavailable", "kind", res.gvk, "err", err)
		return nil
	}
	if m != nil && old == nil && len(accessor(obj).GetManagedFields()) == 0 {
		if entries, ok := m.CreateEntries(obj, manager); ok {
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
	m, err := s.fields.Get(fieldKind(res), subresource)
	if err != nil {
		return nil, err
	}
	return m.FieldManager, nil
}
