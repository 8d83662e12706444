package apiserver

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"reflect"
	"strconv"
	"sync"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"skiff/internal/apiserver/admission"
)

// This file connects create, update, delete and connect to dynamic admission
// (webhooks and ValidatingAdmissionPolicies, package admission).

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
		if obj, err := res.fromStorage(e.Object); err == nil {
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
	obj, err := res.fromStorage(e.Object)
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

// warningsKey carries the response's warning sink through a request.
type warningsKey struct{}

// warningSink adds Warning headers; admission may report from several
// goroutines, so it serializes them.
type warningSink struct {
	mu sync.Mutex
	w  http.ResponseWriter
}

// withWarnings lets admission add warnings to w's headers.
func withWarnings(ctx context.Context, w http.ResponseWriter) context.Context {
	return context.WithValue(ctx, warningsKey{}, &warningSink{w: w})
}

// addWarnings adds Warning headers, as upstream's warning recorder does.
func addWarnings(ctx context.Context, msgs []string) {
	sink, _ := ctx.Value(warningsKey{}).(*warningSink)
	if sink == nil || len(msgs) == 0 {
		return
	}
	sink.mu.Lock()
	defer sink.mu.Unlock()
	for _, m := range msgs {
		sink.w.Header().Add("Warning", fmt.Sprintf(`299 - %q`, m))
	}
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

// admitMutating runs the mutating webhooks on a create or update and
// returns the object to go on with: when a webhook changed it, defaults
// run again and the system metadata stays as the server set it.
func (s *Server) admitMutating(ctx context.Context, r admitRequest) (runtime.Object, error) {
	if s.dynamic == nil {
		return r.obj, nil
	}
	setGVK(r.obj, r.res.gvk)
	a := s.attributes(ctx, r)
	out, warnings, err := s.dynamic.Mutate(ctx, a)
	addWarnings(ctx, warnings)
	if err != nil {
		return nil, err
	}
	if out == a.Object {
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

// admitValidating runs the validating webhooks and policies on a
// validated write, just before it is stored.
func (s *Server) admitValidating(ctx context.Context, r admitRequest) error {
	if s.dynamic == nil {
		return nil
	}
	if r.obj != nil {
		setGVK(r.obj, r.res.gvk)
	}
	warnings, err := s.dynamic.Validate(ctx, s.attributes(ctx, r))
	addWarnings(ctx, warnings)
	return err
}

// admitDeletion runs dynamic admission on a delete of the stored obj.
func (s *Server) admitDeletion(ctx context.Context, res *resource, namespace, name string, obj runtime.Object, opts *metav1.DeleteOptions) error {
	if s.dynamic == nil {
		return nil
	}
	o := opts.DeepCopy()
	o.TypeMeta = metav1.TypeMeta{Kind: "DeleteOptions", APIVersion: "meta.k8s.io/v1"}
	r := admitRequest{res: res, op: admission.Delete, namespace: namespace, name: name, old: obj,
		dryRun: len(opts.DryRun) > 0, options: o}
	a := s.attributes(ctx, r)
	_, warnings, err := s.dynamic.Mutate(ctx, a)
	addWarnings(ctx, warnings)
	if err != nil {
		return err
	}
	return s.admitValidating(ctx, r)
}

// admitConnect runs dynamic admission on a CONNECT to a pod's exec,
// attach or portforward subresource, as upstream does before it proxies:
// the object admitted is the request's options (PodExecOptions, ...).
func (s *Server) admitConnect(ctx context.Context, info requestInfo, q url.Values) error {
	if s.dynamic == nil {
		return nil
	}
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
	_, warnings, err := s.dynamic.Mutate(ctx, a)
	addWarnings(ctx, warnings)
	if err != nil {
		return err
	}
	warnings, err = s.dynamic.Validate(ctx, a)
	addWarnings(ctx, warnings)
	return err
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
