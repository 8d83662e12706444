package apiserver

import (
	"context"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	utilrand "k8s.io/apimachinery/pkg/util/rand"
	"k8s.io/apimachinery/pkg/util/uuid"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"skiff/internal/apiserver/admission"
	"skiff/internal/apiserver/registry"
	"skiff/internal/storage"
)

// serveResource dispatches a request on a resource URL.
func (s *Server) serveResource(w http.ResponseWriter, r *http.Request, info requestInfo) {
	res, ok := s.lookup(info.group, info.version, info.resource)
	if !ok {
		s.writeError(w, r, apierrors.NewNotFound(schema.GroupResource{Group: info.group, Resource: info.resource}, ""))
		return
	}
	if !res.Namespaced && info.namespace != "" {
		s.writeError(w, r, apierrors.NewNotFound(res.groupResource(), ""))
		return
	}
	if info.subresource != "" && !res.HasSubresource(info.subresource) {
		s.writeError(w, r, apierrors.NewNotFound(res.groupResource(), info.name))
		return
	}
	if res.custom != nil && !customAccept(r) {
		s.writeError(w, r, errNotAcceptable("only the following media types are accepted: application/json, application/yaml"))
		return
	}
	r = r.WithContext(s.withAuditAnnotations(withWarnings(r.Context(), w), info))
	if info.subresource != "" {
		s.serveSubresource(w, r, res, info)
		return
	}
	if info.group == "" && info.resource == "bindings" {
		if info.verb != "create" {
			s.writeError(w, r, apierrors.NewMethodNotSupported(res.groupResource(), info.verb))
			return
		}
		s.handleBinding(w, r, res, info)
		return
	}
	if isReviewResource(res) {
		s.handleReview(w, r, res, info)
		return
	}
	if isMetricsResource(res) {
		s.handleMetrics(w, r, res, info)
		return
	}
	switch info.verb {
	case "get":
		s.handleGet(w, r, res, info)
	case "list":
		s.handleList(w, r, res, info)
	case "watch":
		s.handleWatch(w, r, res, info)
	case "create":
		if info.name != "" {
			s.writeError(w, r, apierrors.NewMethodNotSupported(res.groupResource(), "create"))
			return
		}
		s.handleCreate(w, r, res, info)
	case "update":
		s.handleUpdate(w, r, res, info, nil)
	case "patch":
		s.handlePatch(w, r, res, info, nil)
	case "delete":
		s.handleDelete(w, r, res, info)
	case "deletecollection":
		s.handleDeleteCollection(w, r, res, info)
	default:
		s.writeError(w, r, apierrors.NewMethodNotSupported(res.groupResource(), info.verb))
	}
}

// target negotiates or answers 406.
func (s *Server) target(w http.ResponseWriter, r *http.Request) (target, bool) {
	t, ok := negotiate(r)
	if !ok {
		s.writeError(w, r, errNotAcceptable("only the following media types are accepted: application/json, application/yaml, application/vnd.kubernetes.protobuf"))
	}
	return t, ok
}

// readObject reads a stored object straight from the store (a quorum read).
func (s *Server) readObject(ctx context.Context, res *resource, ns, name string) (runtime.Object, error) {
	kv, err := s.cfg.Store.Get(ctx, res.key(ns, name))
	if err != nil {
		return nil, storeError(res, name, err)
	}
	obj, err := s.decodeStored(kv.Key, kv.Value, kv.ModRevision)
	if err != nil {
		return nil, apierrors.NewInternalError(err)
	}
	return obj, nil
}

func (s *Server) handleGet(w http.ResponseWriter, r *http.Request, res *resource, info requestInfo) {
	t, ok := s.target(w, r)
	if !ok {
		return
	}
	var obj runtime.Object
	if rv := r.URL.Query().Get("resourceVersion"); rv != "" {
		e, found := s.cache.Get(res.bucket, res.key(info.namespace, info.name))
		if !found {
			s.writeError(w, r, apierrors.NewNotFound(res.groupResource(), info.name))
			return
		}
		obj = e.Object
	} else {
		o, err := s.readObject(r.Context(), res, info.namespace, info.name)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		obj = o
	}
	out, err := res.fromStorage(r.Context(), obj)
	if err != nil {
		s.writeError(w, r, apierrors.NewInternalError(err))
		return
	}
	s.writeRead(w, r, res, t, http.StatusOK, out)
}

// writeRead writes one object, as itself, a Table or metadata only.
func (s *Server) writeRead(w http.ResponseWriter, r *http.Request, res *resource, t target, code int, obj runtime.Object) {
	switch t.as {
	case "Table":
		table := s.toTable(res, []runtime.Object{obj}, r.URL.Query().Get("includeObject"), true)
		s.writeObject(w, r, t, code, table)
	case "PartialObjectMetadata", "PartialObjectMetadataList":
		s.writeObject(w, r, t, code, partialMetadata(obj))
	default:
		s.writeObject(w, r, t, code, obj)
	}
}

func partialMetadata(obj runtime.Object) *metav1.PartialObjectMetadata {
	m := accessor(obj)
	out := &metav1.PartialObjectMetadata{}
	out.TypeMeta = metav1.TypeMeta{Kind: "PartialObjectMetadata", APIVersion: "meta.k8s.io/v1"}
	if u, ok := obj.(*unstructured.Unstructured); ok {
		if md, found, _ := unstructured.NestedMap(u.Object, "metadata"); found {
			_ = runtime.DefaultUnstructuredConverter.FromUnstructured(md, &out.ObjectMeta)
		}
		return out
	}
	if om, ok := m.(*metav1.ObjectMeta); ok {
		out.ObjectMeta = *om
	} else if g, ok := obj.(interface{ GetObjectMeta() metav1.Object }); ok {
		if om, ok := g.GetObjectMeta().(*metav1.ObjectMeta); ok {
			out.ObjectMeta = *om
		}
	}
	return out
}

// createOptions holds the query parameters of writes.
type writeOptions struct {
	dryRun          bool
	applied         bool // the mutation was a server-side apply, which tracks fields itself
	fieldManager    string
	fieldValidation string
}

func parseWriteOptions(r *http.Request) (writeOptions, error) {
	q := r.URL.Query()
	o := writeOptions{fieldManager: q.Get("fieldManager"), fieldValidation: q.Get("fieldValidation")}
	for _, d := range q["dryRun"] {
		if d != "All" {
			return o, apierrors.NewBadRequest(fmt.Sprintf("Invalid dry run value: %q, only \"All\" is supported", d))
		}
		o.dryRun = true
	}
	switch o.fieldValidation {
	case "", "Strict", "Warn", "Ignore":
	default:
		return o, apierrors.NewBadRequest(fmt.Sprintf("Invalid fieldValidation value: %q, must be one of Ignore, Warn or Strict", o.fieldValidation))
	}
	if o.fieldValidation == "" {
		o.fieldValidation = "Warn"
	}
	if o.fieldManager == "" {
		o.fieldManager = defaultFieldManager(r.UserAgent())
	}
	if len(o.fieldManager) > 128 {
		return o, apierrors.NewBadRequest("fieldManager: Too long: may not be more than 128 bytes")
	}
	return o, nil
}

// defaultFieldManager names the manager as upstream does: the user agent up
// to the first slash ("kubectl-client-side-apply" stays whole).
func defaultFieldManager(ua string) string {
	name, _, _ := strings.Cut(ua, "/")
	if name == "" {
		return "unknown"
	}
	if len(name) > 128 {
		name = name[:128]
	}
	return name
}

// decodeBody decodes a request body into a new object of res's kind (or
// into, when given), honouring fieldValidation.
func (s *Server) decodeBody(w http.ResponseWriter, r *http.Request, body []byte, gvk schema.GroupVersionKind, into runtime.Object, validation string) (runtime.Object, error) {
	strict := validation != "Ignore"
	ct := r.Header.Get("Content-Type")
	dec, ok := s.codecs.decoderFor(ct, strict)
	if !ok {
		return nil, errUnsupportedMediaType(ct)
	}
	if into == nil && !s.cfg.Scheme.Recognizes(gvk) {
		// A custom resource: no Go type, and no protobuf either.
		if mt, _, _ := mime.ParseMediaType(ct); mt == mediaProtobuf {
			return nil, errUnsupportedMediaType(ct)
		}
		into = &unstructured.Unstructured{}
	}
	if len(body) == 0 {
		return nil, apierrors.NewBadRequest("the body of the request was in an unknown format - accepted media types include: application/json, application/yaml, application/vnd.kubernetes.protobuf")
	}
	obj, got, err := dec.Decode(body, &gvk, into)
	if err != nil {
		if !runtime.IsStrictDecodingError(err) || obj == nil {
			return nil, apierrors.NewBadRequest(fmt.Sprintf("the object provided is unrecognized or malformed: %v", err))
		}
		if err := unknownFields(w, err, validation); err != nil {
			return nil, err
		}
	}
	if got != nil && (got.Group != gvk.Group || got.Version != gvk.Version) {
		return nil, apierrors.NewBadRequest(fmt.Sprintf("the API version in the data (%s) does not match the expected API version (%s)", got.GroupVersion(), gvk.GroupVersion()))
	}
	if got != nil && got.Kind != gvk.Kind {
		return nil, apierrors.NewBadRequest(fmt.Sprintf("the kind in the data (%s) does not match the expected kind (%s)", got.Kind, gvk.Kind))
	}
	setGVK(obj, gvk)
	return obj, nil
}

// unknownFields applies fieldValidation to a strict decoding error: Strict
// refuses the request, Warn adds a Warning header per unknown field.
func unknownFields(w http.ResponseWriter, err error, validation string) error {
	if validation == "Strict" {
		return apierrors.NewBadRequest(err.Error())
	}
	for _, e := range strictErrors(err) {
		w.Header().Add("Warning", fmt.Sprintf(`299 - %q`, e))
	}
	return nil
}

// decodeRequest reads the write options and the body of a request and
// decodes the body as gvk (into, when given).
func (s *Server) decodeRequest(w http.ResponseWriter, r *http.Request, gvk schema.GroupVersionKind, into runtime.Object) (runtime.Object, writeOptions, error) {
	opts, err := parseWriteOptions(r)
	if err != nil {
		return nil, opts, err
	}
	body, err := readBody(r)
	if err != nil {
		return nil, opts, requestEntityTooLarge(err)
	}
	obj, err := s.decodeBody(w, r, body, gvk, into, opts.fieldValidation)
	return obj, opts, err
}

func strictErrors(err error) []string {
	var se interface{ Errors() []error }
	if errors.As(err, &se) {
		var out []string
		for _, e := range se.Errors() {
			out = append(out, e.Error())
		}
		return out
	}
	return []string{err.Error()}
}

// validateMeta runs the metadata checks every object gets.
func validateMeta(res *resource, obj runtime.Object) field.ErrorList {
	nameFn := res.Strategy.NameValidation
	if nameFn == nil {
		nameFn = apivalidation.NameIsDNSSubdomain
	}
	return apivalidation.ValidateObjectMetaAccessor(accessor(obj), res.Namespaced, apivalidation.ValidateNameFunc(nameFn), field.NewPath("metadata"))
}

func invalid(res *resource, name string, errs field.ErrorList) error {
	return apierrors.NewInvalid(schema.GroupKind{Group: res.GroupVersion.Group, Kind: res.Kind}, name, errs)
}

func (s *Server) handleCreate(w http.ResponseWriter, r *http.Request, res *resource, info requestInfo) {
	t, ok := s.target(w, r)
	if !ok {
		return
	}
	obj, opts, err := s.decodeRequest(w, r, res.gvk, nil)
	if err == nil {
		s.auditRequestObject(r.Context(), obj)
		err = s.checkUnknownFields(w, res, obj, opts.fieldValidation)
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	out, code, err := s.create(r.Context(), res, info.namespace, obj, opts)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	s.writeRead(w, r, res, t, code, out)
}

func requestEntityTooLarge(err error) error {
	if errors.Is(err, errBodyTooLarge) {
		return apierrors.NewRequestEntityTooLargeError(err.Error())
	}
	return apierrors.NewBadRequest(err.Error())
}

// create stores a new object; obj is owned by the call.
func (s *Server) create(ctx context.Context, res *resource, namespace string, obj runtime.Object, opts writeOptions) (runtime.Object, int, error) {
	m := accessor(obj)
	if res.Namespaced {
		if m.GetNamespace() == "" {
			m.SetNamespace(namespace)
		} else if namespace != "" && m.GetNamespace() != namespace {
			return nil, 0, apierrors.NewBadRequest("the namespace of the provided object does not match the namespace sent on the request")
		}
		if m.GetNamespace() == "" {
			m.SetNamespace(metav1.NamespaceDefault)
		}
	} else {
		m.SetNamespace("")
	}
	if m.GetName() == "" && m.GetGenerateName() == "" {
		errs := field.ErrorList{field.Required(field.NewPath("metadata", "name"), "name or generateName is required")}
		return nil, 0, invalid(res, "", errs)
	}
	// System fields a client may not choose.
	m.SetUID(uuid.NewUUID())
	m.SetCreationTimestamp(metav1.Now())
	m.SetDeletionTimestamp(nil)
	m.SetDeletionGracePeriodSeconds(nil)
	m.SetResourceVersion("")
	m.SetSelfLink("")
	if res.Strategy.TrackGeneration {
		m.SetGeneration(1)
	} else {
		m.SetGeneration(0)
	}
	generated := m.GetName() == ""
	if generated {
		m.SetName(generateName(m.GetGenerateName()))
	}
	if res.Strategy.Default != nil {
		res.Strategy.Default(obj)
	}
	if res.Strategy.PrepareForCreate != nil {
		res.Strategy.PrepareForCreate(obj)
	}
	if res.Strategy.PrepareForCreateByUser != nil {
		if u := userFrom(ctx); u != nil {
			res.Strategy.PrepareForCreateByUser(obj, registry.UserInfo{Name: u.Name, UID: u.UID, Groups: u.Groups, Extra: u.Extra})
		}
	}
	admit := admitRequest{res: res, op: admission.Create, namespace: m.GetNamespace(), dryRun: opts.dryRun, options: writeOptionsObject(admission.Create, opts)}
	if !generated {
		admit.name = m.GetName()
	}
	admit.obj = obj
	obj, err := s.admitMutating(ctx, admit)
	if err != nil {
		return nil, 0, err
	}
	m = accessor(obj)
	admit.obj = obj
	// A create by POST names no object in its request; one by apply does.
	requestName := ""
	if opts.applied {
		requestName = m.GetName()
	}
	if err := s.checkEscalation(ctx, res, m.GetNamespace(), requestName, obj, nil); err != nil {
		return nil, 0, err
	}
	errs := validateMeta(res, obj)
	if res.Strategy.Validate != nil {
		errs = append(errs, res.Strategy.Validate(obj)...)
	}
	if len(errs) > 0 {
		return nil, 0, invalid(res, m.GetName(), errs)
	}
	if err := s.admitValidating(ctx, admit); err != nil {
		return nil, 0, err
	}
	undo := func() {}
	if svc, ok := obj.(*corev1.Service); ok {
		if undo, err = s.alloc.Create(ctx, svc, opts.dryRun); err != nil {
			return nil, 0, err
		}
	}
	if !opts.applied {
		if err := s.trackCreate(res, obj, opts.fieldManager); err != nil {
			undo()
			return nil, 0, err
		}
	}
	if opts.dryRun {
		return obj, http.StatusCreated, nil
	}
	stored, err := res.toStorage(ctx, obj)
	if err != nil {
		undo()
		return nil, 0, apierrors.NewInternalError(err)
	}
	for attempt := 0; ; attempt++ {
		data, err := s.encodeStored(res, stored)
		if err != nil {
			undo()
			return nil, 0, apierrors.NewInternalError(err)
		}
		rev, err := s.cfg.Store.Create(ctx, res.key(m.GetNamespace(), m.GetName()), data)
		if errors.Is(err, storage.ErrExists) && generated && attempt < 8 {
			m.SetName(generateName(m.GetGenerateName()))
			accessor(stored).SetName(m.GetName())
			continue
		}
		if err != nil {
			undo()
			return nil, 0, storeError(res, m.GetName(), err)
		}
		m.SetResourceVersion(strconv.FormatInt(rev, 10))
		break
	}
	setGVK(obj, res.gvk)
	return obj, http.StatusCreated, nil
}

// generateName appends five random characters to base, as upstream does
// (cutting base so that the name stays within 63 characters).
func generateName(base string) string {
	const maxGeneratedNameLength = 63 - 5
	if len(base) > maxGeneratedNameLength {
		base = base[:maxGeneratedNameLength]
	}
	return base + utilrand.String(5)
}

// mutateFunc changes the current object into the wanted one. It returns the
// new object (which it owns) or an API error.
type mutateFunc func(current runtime.Object) (runtime.Object, error)

// handleUpdate serves PUT on an object or (with sub set) a subresource.
func (s *Server) handleUpdate(w http.ResponseWriter, r *http.Request, res *resource, info requestInfo, sub *subresourceOps) {
	t, ok := s.target(w, r)
	if !ok {
		return
	}
	gvk := res.gvk
	if sub != nil && sub.gvk != nil {
		gvk = *sub.gvk
	}
	obj, opts, err := s.decodeRequest(w, r, gvk, nil)
	if err == nil {
		s.auditRequestObject(r.Context(), obj)
	}
	if err == nil && (sub == nil || sub.gvk == nil) {
		err = s.checkUnknownFields(w, res, obj, opts.fieldValidation)
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	m := accessor(obj)
	if m.GetName() != "" && m.GetName() != info.name {
		s.writeError(w, r, apierrors.NewBadRequest(fmt.Sprintf("the name of the object (%s) does not match the name on the URL (%s)", m.GetName(), info.name)))
		return
	}
	if res.Namespaced && m.GetNamespace() != "" && m.GetNamespace() != info.namespace {
		s.writeError(w, r, apierrors.NewBadRequest("the namespace of the provided object does not match the namespace sent on the request"))
		return
	}
	m.SetName(info.name)
	if res.Namespaced {
		m.SetNamespace(info.namespace)
	}
	wantRV := m.GetResourceVersion()
	mutate := func(current runtime.Object) (runtime.Object, error) {
		if sub != nil && sub.fromRequest != nil {
			return sub.fromRequest(current, obj.DeepCopyObject())
		}
		return obj.DeepCopyObject(), nil
	}
	out, err := s.update(r.Context(), res, info, wantRV, mutate, opts, sub)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if sub != nil && sub.toResponse != nil {
		s.writeObject(w, r, target{media: t.media, pretty: t.pretty}, http.StatusOK, sub.toResponse(out))
		return
	}
	s.writeRead(w, r, res, t, http.StatusOK, out)
}

// update applies mutate to the current object with optimistic concurrency:
// on a conflict it re-reads and retries, unless the caller named a
// resourceVersion (wantRV), which then must match.
func (s *Server) update(ctx context.Context, res *resource, info requestInfo, wantRV string, mutate mutateFunc, opts writeOptions, sub *subresourceOps) (runtime.Object, error) {
	key := res.key(info.namespace, info.name)
	for attempt := 0; attempt < 16; attempt++ {
		kv, err := s.cfg.Store.Get(ctx, key)
		if err != nil {
			return nil, storeError(res, info.name, err)
		}
		storedOld, err := s.decodeStored(kv.Key, kv.Value, kv.ModRevision)
		if err != nil {
			return nil, apierrors.NewInternalError(err)
		}
		old, err := res.fromStorage(ctx, storedOld)
		if err != nil {
			return nil, apierrors.NewInternalError(err)
		}
		oldM := accessor(old)
		obj, err := mutate(old.DeepCopyObject())
		if err != nil {
			return nil, err
		}
		m := accessor(obj)
		rv := m.GetResourceVersion()
		if wantRV != "" {
			rv = wantRV
		}
		if rv != "" && rv != oldM.GetResourceVersion() {
			return nil, apierrors.NewConflict(res.groupResource(), info.name, errors.New(optimisticLockMsg))
		}
		if uid := m.GetUID(); uid != "" && uid != oldM.GetUID() {
			return nil, apierrors.NewConflict(res.groupResource(), info.name,
				fmt.Errorf("Precondition failed: UID in precondition: %v, UID in object meta: %v", oldM.GetUID(), uid))
		}
		// System fields stay as stored.
		m.SetUID(oldM.GetUID())
		m.SetCreationTimestamp(oldM.GetCreationTimestamp())
		m.SetDeletionTimestamp(oldM.GetDeletionTimestamp())
		m.SetDeletionGracePeriodSeconds(oldM.GetDeletionGracePeriodSeconds())
		m.SetGeneration(oldM.GetGeneration())
		m.SetSelfLink("")
		m.SetResourceVersion(oldM.GetResourceVersion())
		if oldM.GetDeletionTimestamp() != nil && len(m.GetFinalizers()) > len(oldM.GetFinalizers()) {
			for _, f := range m.GetFinalizers() {
				if !containsString(oldM.GetFinalizers(), f) {
					return nil, invalid(res, info.name, field.ErrorList{field.Forbidden(field.NewPath("metadata", "finalizers"),
						fmt.Sprintf("no new finalizers can be added if the object is being deleted, found new finalizers []string{%q}", f))})
				}
			}
		}
		if res.Strategy.Default != nil {
			res.Strategy.Default(obj)
		}
		// Subresources that write the object itself (status, binding, ...)
		// have their own rules; the main resource and scale share the
		// strategy's.
		su, isSub := res.Strategy.SubresourceUpdates[subName(sub)]
		admit := admitRequest{res: res, sub: sub, op: admission.Update, namespace: info.namespace, name: info.name,
			obj: obj, old: old, dryRun: opts.dryRun, options: writeOptionsObject(admission.Update, opts)}
		if !su.SkipAdmission {
			if obj, err = s.admitMutating(ctx, admit); err != nil {
				return nil, err
			}
			m = accessor(obj)
			admit.obj = obj
		}
		if sub == nil {
			if err := s.checkEscalation(ctx, res, info.namespace, info.name, obj, old); err != nil {
				return nil, err
			}
		}
		var errs field.ErrorList
		if isSub {
			if su.Prepare != nil {
				su.Prepare(obj, old)
			}
			if su.SpecChange && res.Strategy.TrackGeneration && m.GetGeneration() == oldM.GetGeneration() && specChanged(obj, old) {
				m.SetGeneration(oldM.GetGeneration() + 1)
			}
			errs = apivalidation.ValidateObjectMetaAccessorUpdate(m, oldM, field.NewPath("metadata"))
			if su.Validate != nil {
				errs = append(errs, su.Validate(obj, old)...)
			}
		} else {
			if sub == nil && res.HasSubresource("status") {
				if res.Strategy.PrepareForUpdate == nil {
					copyStatus(obj, old)
				}
			}
			if res.Strategy.PrepareForUpdate != nil {
				res.Strategy.PrepareForUpdate(obj, old)
			}
			if res.Strategy.TrackGeneration && m.GetGeneration() == oldM.GetGeneration() && specChanged(obj, old) {
				m.SetGeneration(oldM.GetGeneration() + 1)
			}
			errs = apivalidation.ValidateObjectMetaAccessorUpdate(m, oldM, field.NewPath("metadata"))
			errs = append(errs, validateMeta(res, obj)...)
			if res.Strategy.Validate != nil && !res.Strategy.SkipValidateOnUpdate {
				errs = append(errs, res.Strategy.Validate(obj)...)
			}
			if res.Strategy.ValidateUpdate != nil {
				errs = append(errs, res.Strategy.ValidateUpdate(obj, old)...)
			}
		}
		if len(errs) > 0 {
			return nil, invalid(res, info.name, errs)
		}
		if !su.SkipAdmission {
			if err := s.admitValidating(ctx, admit); err != nil {
				return nil, err
			}
		}
		if svc, ok := obj.(*corev1.Service); ok {
			if err := s.alloc.Update(ctx, svc, old.(*corev1.Service), opts.dryRun); err != nil {
				return nil, err
			}
		}
		if !opts.applied {
			if err := s.trackUpdate(res, obj, old, opts.fieldManager, subName(sub)); err != nil {
				return nil, err
			}
		}
		setGVK(obj, res.gvk)
		// A deleted object whose last finalizer went away is gone now.
		if m.GetDeletionTimestamp() != nil && len(m.GetFinalizers()) == 0 && deletionDue(m) && !namespaceHeld(obj) {
			if opts.dryRun {
				return obj, nil
			}
			_, rev, err := s.cfg.Store.Delete(ctx, key, kv.ModRevision)
			if errors.Is(err, storage.ErrConflict) && wantRV == "" {
				continue
			}
			if err != nil {
				return nil, storeError(res, info.name, err)
			}
			s.afterDelete(ctx, obj)
			m.SetResourceVersion(strconv.FormatInt(rev, 10))
			return obj, nil
		}
		stored, err := res.toStorage(ctx, obj)
		if err != nil {
			return nil, apierrors.NewInternalError(err)
		}
		data, err := s.encodeStored(res, stored)
		if err != nil {
			return nil, apierrors.NewInternalError(err)
		}
		if string(data) == string(kv.Value) && !kv.Stale {
			// Nothing changed: no write, the same resourceVersion. A
			// stale value (another encryption key) is written again.
			return obj, nil
		}
		if opts.dryRun {
			return obj, nil
		}
		rev, _, err := s.cfg.Store.Update(ctx, key, data, kv.ModRevision)
		if errors.Is(err, storage.ErrConflict) {
			if wantRV != "" {
				return nil, apierrors.NewConflict(res.groupResource(), info.name, errors.New(optimisticLockMsg))
			}
			continue
		}
		if err != nil {
			return nil, storeError(res, info.name, err)
		}
		m.SetResourceVersion(strconv.FormatInt(rev, 10))
		return obj, nil
	}
	return nil, apierrors.NewConflict(res.groupResource(), info.name, errors.New("too many concurrent updates, giving up"))
}

func subName(sub *subresourceOps) string {
	if sub == nil {
		return ""
	}
	return sub.name
}

// deletionDue reports whether an object marked for deletion may go now that
// its finalizers are done: only once its grace period is over (pods wait for
// their node to confirm with a zero grace period).
func deletionDue(m metav1.Object) bool {
	g := m.GetDeletionGracePeriodSeconds()
	return g == nil || *g == 0
}

func containsString(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// handleList serves LIST.
func (s *Server) handleList(w http.ResponseWriter, r *http.Request, res *resource, info requestInfo) {
	t, ok := s.target(w, r)
	if !ok {
		return
	}
	q := r.URL.Query()
	sel, err := parseSelectors(res, q)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	lo, err := parseListOptions(q)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	items, rev, cont, remaining, err := s.list(r.Context(), res, info.namespace, sel, lo)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	s.writeList(w, r, res, t, items, rev, cont, remaining)
}

func (s *Server) writeList(w http.ResponseWriter, r *http.Request, res *resource, t target, items []runtime.Object, rev int64, cont string, remaining *int64) {
	lm := metav1.ListMeta{ResourceVersion: strconv.FormatInt(rev, 10), Continue: cont, RemainingItemCount: remaining}
	switch t.as {
	case "Table":
		table := s.toTable(res, items, r.URL.Query().Get("includeObject"), false)
		table.ListMeta = lm
		s.writeObject(w, r, t, http.StatusOK, table)
		return
	case "PartialObjectMetadata", "PartialObjectMetadataList":
		pl := &metav1.PartialObjectMetadataList{TypeMeta: metav1.TypeMeta{Kind: "PartialObjectMetadataList", APIVersion: "meta.k8s.io/v1"}, ListMeta: lm}
		for _, it := range items {
			pl.Items = append(pl.Items, *partialMetadata(it))
		}
		s.writeObject(w, r, t, http.StatusOK, pl)
		return
	}
	list := res.NewList()
	setGVK(list, res.listGVK)
	if err := meta.SetList(list, items); err != nil {
		s.writeError(w, r, apierrors.NewInternalError(err))
		return
	}
	la, err := meta.ListAccessor(list)
	if err != nil {
		s.writeError(w, r, apierrors.NewInternalError(err))
		return
	}
	la.SetResourceVersion(lm.ResourceVersion)
	la.SetContinue(cont)
	la.SetRemainingItemCount(remaining)
	s.writeObject(w, r, t, http.StatusOK, list)
}

// freshnessTimeout bounds how long a consistent read waits for the cache
// before it reads the store instead.
const freshnessTimeout = 3 * time.Second

// list returns the matching objects in the served version.
func (s *Server) list(ctx context.Context, res *resource, namespace string, sel selectors, lo listOptions) ([]runtime.Object, int64, string, *int64, error) {
	prefix := res.keyPrefix(namespace)
	useStore := lo.limit > 0 || lo.continueKey != "" || lo.match == metav1.ResourceVersionMatchExact
	if !useStore {
		var want int64
		switch {
		case lo.rv == "":
			cur, err := s.cfg.Store.CurrentRevision(ctx)
			if err != nil {
				return nil, 0, "", nil, storeError(res, "", err)
			}
			want = cur
		case lo.rv == "0":
		default:
			want = lo.rvInt
		}
		if want > 0 && !s.cache.WaitFresh(ctx, want, freshnessTimeout) {
			if errors.Is(ctx.Err(), context.DeadlineExceeded) {
				return nil, 0, "", nil, requestTimedOut()
			}
			if lo.rv != "" {
				return nil, 0, "", nil, apierrors.NewTimeoutError(fmt.Sprintf("Too large resource version: %d, current: %d", want, s.cache.Revision()), 1)
			}
			useStore = true
		}
	}
	if !useStore {
		entries, rev, err := s.cache.List(res.bucket, prefix)
		if err != nil {
			return nil, 0, "", nil, apierrors.NewServiceUnavailable(err.Error())
		}
		stored := make([]runtime.Object, len(entries))
		for i, e := range entries {
			stored[i] = e.Object
		}
		objs, err := res.fromStorageAll(ctx, stored)
		if err != nil {
			return nil, 0, "", nil, apierrors.NewInternalError(err)
		}
		items := make([]runtime.Object, 0, len(objs))
		for _, obj := range objs {
			if sel.matches(res, obj) {
				items = append(items, obj)
			}
		}
		return items, rev, "", nil, nil
	}
	return s.listFromStore(ctx, res, prefix, sel, lo)
}

// listFromStore pages through the store, filtering, until limit objects
// match (the continue token resumes after the last key read).
func (s *Server) listFromStore(ctx context.Context, res *resource, prefix string, sel selectors, lo listOptions) ([]runtime.Object, int64, string, *int64, error) {
	opts := storage.ListOptions{Revision: lo.continueRev, StartKey: lo.continueKey}
	if lo.match == metav1.ResourceVersionMatchExact {
		opts.Revision = lo.rvInt
	}
	if opts.StartKey != "" && !strings.HasPrefix(opts.StartKey, prefix) {
		return nil, 0, "", nil, apierrors.NewBadRequest("continue key is not valid for this list")
	}
	var items []runtime.Object
	for {
		if lo.limit > 0 {
			opts.Limit = lo.limit - int64(len(items))
			if opts.Limit < 16 && !sel.empty() {
				opts.Limit = 16
			}
		}
		page, err := s.cfg.Store.List(ctx, prefix, opts)
		if errors.Is(err, storage.ErrCompacted) && lo.continueKey != "" {
			return nil, 0, "", nil, expiredContinue(lo.continueKey)
		}
		if err != nil {
			return nil, 0, "", nil, storeError(res, "", err)
		}
		opts.Revision = page.Revision
		stored := make([]runtime.Object, len(page.KVs))
		for i, kv := range page.KVs {
			if stored[i], err = s.decodeStored(kv.Key, kv.Value, kv.ModRevision); err != nil {
				return nil, 0, "", nil, apierrors.NewInternalError(err)
			}
		}
		objs, err := res.fromStorageAll(ctx, stored)
		if err != nil {
			return nil, 0, "", nil, apierrors.NewInternalError(err)
		}
		for i, kv := range page.KVs {
			obj := objs[i]
			if !sel.matches(res, obj) {
				continue
			}
			items = append(items, obj)
			if lo.limit > 0 && int64(len(items)) == lo.limit {
				more := page.More || i < len(page.KVs)-1
				if !more {
					return items, page.Revision, "", nil, nil
				}
				token := encodeContinue(kv.Key+"\x00", page.Revision)
				var remaining *int64
				if sel.empty() {
					n := page.Remaining + int64(len(page.KVs)-1-i)
					remaining = &n
				}
				return items, page.Revision, token, remaining, nil
			}
		}
		if !page.More || len(page.KVs) == 0 {
			return items, page.Revision, "", nil, nil
		}
		opts.StartKey = page.KVs[len(page.KVs)-1].Key + "\x00"
	}
}
