package apiserver

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"reflect"
	"strconv"
	"sync"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"skiff/internal/apiserver/admission"
	"skiff/internal/apiserver/auth"
	"skiff/internal/storage"
)

// This file connects create, update, delete and connect to the admission
// chain (package admission): the built-in plugins, webhooks and
// ValidatingAdmissionPolicies.

// cacheObjects serves admission the objects of the watch cache.
type cacheObjects struct{ s *Server }

var _ admission.Objects = cacheObjects{}

func (c cacheObjects) List(gvr schema.GroupVersionResource, namespace string) []runtime.Object {
	res, ok := c.s.lookup(gvr.Group, gvr.Version, gvr.Resource)
	if !ok {
		return nil
	}
	entries, _, err := c.s.cache.List(res.bucket, res.keyPrefix(namespace))
	if err != nil {
		return nil
	}
	out := make([]runtime.Object, 0, len(entries))
	for _, e := range entries {
		if obj, err := res.fromStorage(context.Background(), e.Object); err == nil {
			out = append(out, obj)
		}
	}
	return out
}

func (c cacheObjects) Get(gvr schema.GroupVersionResource, namespace, name string) (runtime.Object, bool) {
	res, ok := c.s.lookup(gvr.Group, gvr.Version, gvr.Resource)
	if !ok {
		return nil, false
	}
	e, found := c.s.cache.Get(res.bucket, res.key(namespace, name))
	if !found {
		return nil, false
	}
	obj, err := res.fromStorage(context.Background(), e.Object)
	return obj, err == nil
}

func (c cacheObjects) ResourceFor(gvk schema.GroupVersionKind) (schema.GroupVersionResource, bool, bool) {
	for _, r := range c.s.view.Load().ordered {
		if r.gvk == gvk {
			return r.gvr, r.Namespaced, true
		}
	}
	return schema.GroupVersionResource{}, false, false
}

// admissionStore serves admission the namespaces and quotas it reads and
// writes.
type admissionStore struct{ s *Server }

var (
	_ admission.Namespaces = admissionStore{}
	_ admission.Quotas     = admissionStore{}
)

// Namespace reads a namespace from the cache or, when the cache does not
// have it, from the store.
func (a admissionStore) Namespace(ctx context.Context, name string) (*corev1.Namespace, error) {
	s := a.s
	nsRes, ok := s.lookup("", "v1", "namespaces")
	if !ok {
		return nil, nil
	}
	var nsObj runtime.Object
	if e, found := s.cache.Get(nsRes.bucket, nsRes.key("", name)); found {
		nsObj = e.Object
	} else {
		o, err := s.readObject(ctx, nsRes, "", name)
		if err != nil {
			return nil, err
		}
		nsObj = o
	}
	ns, _ := nsObj.(*corev1.Namespace)
	return ns, nil
}

// UpdateQuota changes a stored ResourceQuota with compare-and-swap,
// re-reading it on conflicts.
func (a admissionStore) UpdateQuota(ctx context.Context, namespace, name string, update func(*corev1.ResourceQuota) (*corev1.ResourceQuota, error)) error {
	s := a.s
	quotaRes, ok := s.lookup("", "v1", "resourcequotas")
	if !ok {
		return nil
	}
	key := quotaRes.key(namespace, name)
	for attempt := 0; attempt < 8; attempt++ {
		kv, err := s.cfg.Store.Get(ctx, key)
		if errors.Is(err, storage.ErrNotFound) {
			return nil
		}
		if err != nil {
			return storeError(quotaRes, name, err)
		}
		stored, err := s.decodeStored(kv.Key, kv.Value, kv.ModRevision)
		if err != nil {
			return apierrors.NewInternalError(err)
		}
		quota, ok := stored.DeepCopyObject().(*corev1.ResourceQuota)
		if !ok {
			return nil
		}
		quota, err = update(quota)
		if err != nil || quota == nil {
			return err
		}
		data, err := s.encodeStored(quotaRes, quota)
		if err != nil {
			return apierrors.NewInternalError(err)
		}
		_, _, err = s.cfg.Store.Update(ctx, key, data, kv.ModRevision)
		if errors.Is(err, storage.ErrConflict) {
			continue
		}
		if err != nil {
			return storeError(quotaRes, name, err)
		}
		return nil
	}
	return apierrors.NewConflict(quotaRes.groupResource(), name, fmt.Errorf("too many concurrent updates to the quota"))
}

// warningSink adds Warning headers, as upstream's warning recorder does;
// admission may report from several goroutines, so it serializes them.
type warningSink struct {
	mu sync.Mutex
	w  http.ResponseWriter
}

func (s *warningSink) add(msgs []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, m := range msgs {
		s.w.Header().Add("Warning", fmt.Sprintf(`299 - %q`, m))
	}
}

// withWarnings lets admission add warnings to w's headers.
func withWarnings(ctx context.Context, w http.ResponseWriter) context.Context {
	return admission.WithWarnings(ctx, (&warningSink{w: w}).add)
}

// withAuditAnnotations receives the audit annotations admission adds
// (PodSecurity's): they go to the request's audit event when the audit log
// is on, and to the debug log, with the request they belong to.
func (s *Server) withAuditAnnotations(ctx context.Context, info requestInfo) context.Context {
	rec := s.auditFrom(ctx)
	return admission.WithAuditAnnotations(ctx, func(kv map[string]string) {
		if rec != nil {
			rec.annotate(kv)
		}
		s.log.Debug("audit annotations", "verb", info.verb, "resource", info.resource, "subresource", info.subresource,
			"namespace", info.namespace, "name", info.name, "annotations", kv)
	})
}

// admitRequest is one write as the handlers know it.
type admitRequest struct {
	res       *resource
	sub       *subresourceOps
	op        admission.Operation
	namespace string
	name      string
	obj, old  runtime.Object
	dryRun    bool
	options   runtime.Object
}

// attributes turns r into admission attributes. Subresources with their
// own kind (scale) are admitted as that kind.
func (s *Server) attributes(ctx context.Context, r admitRequest) *admission.Attributes {
	a := &admission.Attributes{
		Kind: r.res.gvk, Resource: r.res.gvr, SubResource: subName(r.sub),
		Namespace: r.namespace, Name: r.name, Operation: r.op,
		Object: r.obj, OldObject: r.old, Options: r.options, DryRun: r.dryRun,
	}
	if !r.res.Namespaced {
		a.Namespace = ""
	}
	if r.sub != nil && r.sub.view != nil && r.sub.gvk != nil {
		a.Kind = *r.sub.gvk
		if r.obj != nil {
			a.Object = r.sub.view(r.obj)
		}
		if r.old != nil {
			a.OldObject = r.sub.view(r.old)
		}
	}
	if u := userFrom(ctx); u != nil {
		a.User = authenticationv1.UserInfo{Username: u.Name, UID: u.UID, Groups: u.Groups}
		if len(u.Extra) > 0 {
			a.User.Extra = map[string]authenticationv1.ExtraValue{}
			for k, v := range u.Extra {
				a.User.Extra[k] = v
			}
		}
	} else {
		a.User = authenticationv1.UserInfo{Username: "system:apiserver", Groups: []string{"system:masters"}}
	}
	return a
}

// writeOptionsObject is the CreateOptions or UpdateOptions a webhook sees.
func writeOptionsObject(op admission.Operation, o writeOptions) runtime.Object {
	var dry []string
	if o.dryRun {
		dry = []string{metav1.DryRunAll}
	}
	if op == admission.Create {
		return &metav1.CreateOptions{TypeMeta: metav1.TypeMeta{Kind: "CreateOptions", APIVersion: "meta.k8s.io/v1"},
			DryRun: dry, FieldManager: o.fieldManager, FieldValidation: o.fieldValidation}
	}
	return &metav1.UpdateOptions{TypeMeta: metav1.TypeMeta{Kind: "UpdateOptions", APIVersion: "meta.k8s.io/v1"},
		DryRun: dry, FieldManager: o.fieldManager, FieldValidation: o.fieldValidation}
}

// admitMutating runs the mutating phase of admission on a create or
// update and returns the object to go on with: when a plugin (a webhook)
// replaced it, defaults run again and the system metadata stays as the
// server set it.
func (s *Server) admitMutating(ctx context.Context, r admitRequest) (runtime.Object, error) {
	setGVK(r.obj, r.res.gvk)
	a := s.attributes(ctx, r)
	in := a.Object
	if err := s.admission.Admit(ctx, a); err != nil {
		return nil, err
	}
	out := a.Object
	if out == in {
		return r.obj, nil
	}
	if r.sub != nil && r.sub.fromRequest != nil && r.sub.view != nil {
		merged, err := r.sub.fromRequest(r.obj, out)
		if err != nil {
			return nil, err
		}
		out = merged
	}
	keepSystemMeta(out, r.obj)
	if r.res.Strategy.Default != nil {
		r.res.Strategy.Default(out)
	}
	setGVK(out, r.res.gvk)
	return out, nil
}

// keepSystemMeta restores the metadata a webhook may not change.
func keepSystemMeta(obj, from runtime.Object) {
	m, f := accessor(obj), accessor(from)
	m.SetName(f.GetName())
	m.SetNamespace(f.GetNamespace())
	m.SetUID(f.GetUID())
	m.SetResourceVersion(f.GetResourceVersion())
	m.SetCreationTimestamp(f.GetCreationTimestamp())
	m.SetDeletionTimestamp(f.GetDeletionTimestamp())
	m.SetDeletionGracePeriodSeconds(f.GetDeletionGracePeriodSeconds())
	m.SetGeneration(f.GetGeneration())
	m.SetManagedFields(f.GetManagedFields())
}

// admitValidating runs the validating phase of admission on a validated
// write, just before it is stored.
func (s *Server) admitValidating(ctx context.Context, r admitRequest) error {
	if r.obj != nil {
		setGVK(r.obj, r.res.gvk)
	}
	return s.admission.Validate(ctx, s.attributes(ctx, r))
}

// admitDeletion runs admission on a delete of the stored obj.
func (s *Server) admitDeletion(ctx context.Context, res *resource, namespace, name string, obj runtime.Object, opts *metav1.DeleteOptions) error {
	o := opts.DeepCopy()
	o.TypeMeta = metav1.TypeMeta{Kind: "DeleteOptions", APIVersion: "meta.k8s.io/v1"}
	r := admitRequest{res: res, op: admission.Delete, namespace: namespace, name: name, old: obj,
		dryRun: len(opts.DryRun) > 0, options: o}
	if err := s.admission.Admit(ctx, s.attributes(ctx, r)); err != nil {
		return err
	}
	return s.admitValidating(ctx, r)
}

// admitSubresourceCreate runs admission on a create of a subresource that
// has its own kind (a TokenRequest, an Eviction) for the named object, as
// upstream does, and returns the object to go on with.
func (s *Server) admitSubresourceCreate(ctx context.Context, res *resource, sub string, gvk schema.GroupVersionKind, namespace, name string, obj runtime.Object, dryRun bool) (runtime.Object, error) {
	obj.GetObjectKind().SetGroupVersionKind(gvk)
	var dry []string
	if dryRun {
		dry = []string{metav1.DryRunAll}
	}
	opts := &metav1.CreateOptions{TypeMeta: metav1.TypeMeta{Kind: "CreateOptions", APIVersion: "meta.k8s.io/v1"}, DryRun: dry}
	a := s.attributes(ctx, admitRequest{res: res, op: admission.Create, namespace: namespace, name: name, obj: obj, dryRun: dryRun, options: opts})
	a.SubResource, a.Kind = sub, gvk
	if err := s.admission.Admit(ctx, a); err != nil {
		return nil, err
	}
	if reflect.TypeOf(a.Object) != reflect.TypeOf(obj) {
		return nil, apierrors.NewInternalError(fmt.Errorf("admission replaced the %s with a %T", gvk.Kind, a.Object))
	}
	if err := s.admission.Validate(ctx, a); err != nil {
		return nil, err
	}
	return a.Object, nil
}

// admissionAuthorizer lets admission ask the server's authorizer.
type admissionAuthorizer struct{ s *Server }

var _ admission.Authorizer = admissionAuthorizer{}

func (z admissionAuthorizer) Allowed(ctx context.Context, user authenticationv1.UserInfo, verb string, gvr schema.GroupVersionResource, namespace, name string) bool {
	if z.s.cfg.Authorizer == nil {
		return true
	}
	u := &auth.User{Name: user.Username, UID: user.UID, Groups: user.Groups}
	if len(user.Extra) > 0 {
		u.Extra = map[string][]string{}
		for k, v := range user.Extra {
			u.Extra[k] = v
		}
	}
	ok, _, err := z.s.cfg.Authorizer.Authorize(ctx, auth.Attributes{User: u, Verb: verb, Namespace: namespace,
		APIGroup: gvr.Group, APIVersion: gvr.Version, Resource: gvr.Resource, Name: name, ResourceRequest: true})
	return err == nil && ok
}

// admitConnect runs admission on a CONNECT to a pod's exec, attach or
// portforward subresource, as upstream does before it proxies: the object
// admitted is the request's options (PodExecOptions, ...). The validating
// phase sees the options as the client sent them, which is what is
// proxied, whatever a mutating webhook answered.
func (s *Server) admitConnect(ctx context.Context, info requestInfo, q url.Values) error {
	res, ok := s.lookup("", "v1", "pods")
	if !ok {
		return nil
	}
	opts := connectOptions(info.subresource, q)
	if opts == nil {
		return nil
	}
	a := s.attributes(ctx, admitRequest{res: res, op: admission.Connect, namespace: info.namespace, name: info.name, obj: opts})
	a.SubResource = info.subresource
	a.Kind = opts.GetObjectKind().GroupVersionKind()
	if err := s.admission.Admit(ctx, a); err != nil {
		return err
	}
	a.Object = opts
	return s.admission.Validate(ctx, a)
}

// connectOptions decodes the options of a pod CONNECT from its query.
func connectOptions(sub string, q url.Values) runtime.Object {
	flag := func(k string) bool { v, _ := strconv.ParseBool(q.Get(k)); return v }
	var obj runtime.Object
	switch sub {
	case "exec":
		obj = &corev1.PodExecOptions{Stdin: flag("stdin"), Stdout: flag("stdout"), Stderr: flag("stderr"), TTY: flag("tty"),
			Container: q.Get("container"), Command: q["command"]}
	case "attach":
		obj = &corev1.PodAttachOptions{Stdin: flag("stdin"), Stdout: flag("stdout"), Stderr: flag("stderr"), TTY: flag("tty"),
			Container: q.Get("container")}
	case "portforward":
		pf := &corev1.PodPortForwardOptions{}
		for _, p := range q["ports"] {
			if n, err := strconv.ParseInt(p, 10, 32); err == nil {
				pf.Ports = append(pf.Ports, int32(n))
			}
		}
		obj = pf
	default:
		return nil
	}
	kind := reflect.TypeOf(obj).Elem().Name()
	obj.GetObjectKind().SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind(kind))
	return obj
}
