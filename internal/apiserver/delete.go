package apiserver

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"skiff/internal/storage"
)

// Finalizers the garbage collector acts on.
const (
	finalizerOrphan     = metav1.FinalizerOrphanDependents
	finalizerForeground = metav1.FinalizerDeleteDependents
)

// deleteOptions reads DeleteOptions from the body or the query.
func (s *Server) deleteOptions(w http.ResponseWriter, r *http.Request) (*metav1.DeleteOptions, error) {
	opts := &metav1.DeleteOptions{}
	body, err := readBody(r)
	if err != nil {
		return nil, requestEntityTooLarge(err)
	}
	if len(body) > 0 {
		dec, ok := s.codecs.decoderFor(r.Header.Get("Content-Type"), false)
		if !ok {
			return nil, errUnsupportedMediaType(r.Header.Get("Content-Type"))
		}
		gvk := metav1.SchemeGroupVersion.WithKind("DeleteOptions")
		obj, _, err := dec.Decode(body, &gvk, opts)
		if err != nil {
			return nil, apierrors.NewBadRequest(fmt.Sprintf("the object provided is unrecognized or malformed: %v", err))
		}
		if o, ok := obj.(*metav1.DeleteOptions); ok {
			opts = o
		}
	}
	q := r.URL.Query()
	if g := q.Get("gracePeriodSeconds"); g != "" {
		n, err := strconv.ParseInt(g, 10, 64)
		if err != nil {
			return nil, apierrors.NewBadRequest("invalid gracePeriodSeconds")
		}
		opts.GracePeriodSeconds = &n
	}
	if p := q.Get("propagationPolicy"); p != "" {
		pp := metav1.DeletionPropagation(p)
		opts.PropagationPolicy = &pp
	}
	if o := q.Get("orphanDependents"); o != "" {
		b := isTrue(o)
		opts.OrphanDependents = &b
	}
	for _, d := range q["dryRun"] {
		opts.DryRun = append(opts.DryRun, d)
	}
	for _, d := range opts.DryRun {
		if d != "All" {
			return nil, apierrors.NewBadRequest(fmt.Sprintf("Invalid dry run value: %q, only \"All\" is supported", d))
		}
	}
	if opts.PropagationPolicy != nil {
		switch *opts.PropagationPolicy {
		case metav1.DeletePropagationOrphan, metav1.DeletePropagationBackground, metav1.DeletePropagationForeground:
		default:
			return nil, apierrors.NewBadRequest(fmt.Sprintf("propagationPolicy: Unsupported value: %q: supported values: \"Foreground\", \"Background\", \"Orphan\", \"nil\"", *opts.PropagationPolicy))
		}
		if opts.OrphanDependents != nil {
			return nil, apierrors.NewBadRequest("orphanDependents: Invalid value: \"true\": cannot set both orphanDependents and propagationPolicy")
		}
	}
	if opts.GracePeriodSeconds != nil && *opts.GracePeriodSeconds < 0 {
		zero := int64(0)
		opts.GracePeriodSeconds = &zero
	}
	return opts, nil
}

func (s *Server) handleDelete(w http.ResponseWriter, r *http.Request, res *resource, info requestInfo) {
	t, ok := s.target(w, r)
	if !ok {
		return
	}
	opts, err := s.deleteOptions(w, r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	obj, code, err := s.delete(r.Context(), res, info.namespace, info.name, opts)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if t.as == "Table" {
		t.as = ""
	}
	s.writeObject(w, r, t, code, obj)
}

// gracePeriod returns how long obj's deletion waits (0 = at once), the way
// each type's strategy decides upstream: only pods on a node are graceful.
func gracePeriod(obj runtime.Object, opts *metav1.DeleteOptions) int64 {
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		return 0
	}
	if pod.Spec.NodeName == "" || pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed {
		return 0
	}
	if opts.GracePeriodSeconds != nil {
		return *opts.GracePeriodSeconds
	}
	if pod.Spec.TerminationGracePeriodSeconds != nil {
		return *pod.Spec.TerminationGracePeriodSeconds
	}
	return corev1.DefaultTerminationGracePeriodSeconds
}

// delete removes an object, or marks it for deletion when finalizers or a
// grace period hold it back. It returns the object and the status code.
func (s *Server) delete(ctx context.Context, res *resource, namespace, name string, opts *metav1.DeleteOptions) (runtime.Object, int, error) {
	key := res.key(namespace, name)
	dryRun := len(opts.DryRun) > 0
	for attempt := 0; attempt < 16; attempt++ {
		kv, err := s.cfg.Store.Get(ctx, key)
		if err != nil {
			return nil, 0, storeError(res, name, err)
		}
		stored, err := s.decodeStored(kv.Key, kv.Value, kv.ModRevision)
		if err != nil {
			return nil, 0, apierrors.NewInternalError(err)
		}
		obj, err := res.fromStorage(ctx, stored.DeepCopyObject())
		if err != nil {
			return nil, 0, apierrors.NewInternalError(err)
		}
		obj = obj.DeepCopyObject()
		m := accessor(obj)
		if p := opts.Preconditions; p != nil {
			if p.UID != nil && *p.UID != m.GetUID() {
				return nil, 0, apierrors.NewConflict(res.groupResource(), name,
					fmt.Errorf("Precondition failed: UID in precondition: %v, UID in object meta: %v", *p.UID, m.GetUID()))
			}
			if p.ResourceVersion != nil && *p.ResourceVersion != m.GetResourceVersion() {
				return nil, 0, apierrors.NewConflict(res.groupResource(), name,
					fmt.Errorf("Precondition failed: ResourceVersion in precondition: %v, ResourceVersion in object meta: %v", *p.ResourceVersion, m.GetResourceVersion()))
			}
		}
		if err := s.admitDeletion(ctx, res, namespace, name, obj, opts); err != nil {
			return nil, 0, err
		}
		finalizers := m.GetFinalizers()
		policy := propagation(opts)
		switch policy {
		case metav1.DeletePropagationOrphan:
			finalizers = withFinalizer(without(finalizers, finalizerForeground), finalizerOrphan)
		case metav1.DeletePropagationForeground:
			finalizers = withFinalizer(without(finalizers, finalizerOrphan), finalizerForeground)
		case metav1.DeletePropagationBackground:
			finalizers = without(without(finalizers, finalizerOrphan), finalizerForeground)
		}
		grace := gracePeriod(obj, opts)
		// Namespaces wait for their own spec.finalizers.
		nsPending := false
		if nsObj, ok := obj.(*corev1.Namespace); ok && len(nsObj.Spec.Finalizers) > 0 {
			nsPending = true
			nsObj.Status.Phase = corev1.NamespaceTerminating
		}
		alreadyDeleting := m.GetDeletionTimestamp() != nil
		immediate := len(finalizers) == 0 && grace == 0 && !nsPending
		if !immediate {
			changed := false
			if !sameStrings(finalizers, m.GetFinalizers()) {
				m.SetFinalizers(finalizers)
				changed = true
			}
			if cur := m.GetDeletionGracePeriodSeconds(); !alreadyDeleting || cur == nil || grace < *cur {
				when := metav1.NewTime(time.Now().Add(time.Duration(grace) * time.Second))
				m.SetDeletionTimestamp(&when)
				m.SetDeletionGracePeriodSeconds(&grace)
				changed = true
			}
			if !changed {
				return obj, http.StatusOK, nil
			}
			if res.Strategy.TrackGeneration && !alreadyDeleting {
				m.SetGeneration(m.GetGeneration() + 1)
			}
			if dryRun {
				return obj, http.StatusOK, nil
			}
			storedNew, err := res.toStorage(ctx, obj)
			if err != nil {
				return nil, 0, apierrors.NewInternalError(err)
			}
			data, err := s.encodeStored(res, storedNew)
			if err != nil {
				return nil, 0, apierrors.NewInternalError(err)
			}
			rev, _, err := s.cfg.Store.Update(ctx, key, data, kv.ModRevision)
			if errors.Is(err, storage.ErrConflict) {
				continue
			}
			if err != nil {
				return nil, 0, storeError(res, name, err)
			}
			m.SetResourceVersion(strconv.FormatInt(rev, 10))
			return obj, http.StatusOK, nil
		}
		if dryRun {
			return obj, http.StatusOK, nil
		}
		_, rev, err := s.cfg.Store.Delete(ctx, key, kv.ModRevision)
		if errors.Is(err, storage.ErrConflict) {
			continue
		}
		if err != nil {
			return nil, 0, storeError(res, name, err)
		}
		s.afterDelete(ctx, obj)
		m.SetResourceVersion(strconv.FormatInt(rev, 10))
		return obj, http.StatusOK, nil
	}
	return nil, 0, apierrors.NewConflict(res.groupResource(), name, errors.New("too many concurrent updates, giving up"))
}

// propagation is the policy a delete asks for ("" = the default: keep the
// object's own finalizers, and the collector deletes dependents in the background).
func propagation(opts *metav1.DeleteOptions) metav1.DeletionPropagation {
	if opts.PropagationPolicy != nil {
		return *opts.PropagationPolicy
	}
	if opts.OrphanDependents != nil {
		if *opts.OrphanDependents {
			return metav1.DeletePropagationOrphan
		}
		return metav1.DeletePropagationBackground
	}
	return ""
}

func withFinalizer(list []string, f string) []string {
	if containsString(list, f) {
		return list
	}
	return append(append([]string(nil), list...), f)
}

func without(list []string, f string) []string {
	var out []string
	for _, x := range list {
		if x != f {
			out = append(out, x)
		}
	}
	return out
}

func sameStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func (s *Server) handleDeleteCollection(w http.ResponseWriter, r *http.Request, res *resource, info requestInfo) {
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
	opts, err := s.deleteOptions(w, r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	items, _, _, _, err := s.list(r.Context(), res, info.namespace, sel, listOptions{})
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	var deleted []runtime.Object
	for _, it := range items {
		m := accessor(it)
		obj, _, err := s.delete(r.Context(), res, m.GetNamespace(), m.GetName(), opts)
		if apierrors.IsNotFound(err) {
			continue
		}
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		deleted = append(deleted, obj)
	}
	if t.as != "" {
		t.as = ""
	}
	s.writeList(w, r, res, t, deleted, s.cache.Revision(), "", nil)
}

// afterDelete releases what a deleted object held: a Service's ClusterIP
// and NodePorts.
func (s *Server) afterDelete(ctx context.Context, obj runtime.Object) {
	if svc, ok := obj.(*corev1.Service); ok {
		s.alloc.Release(ctx, svc)
	}
}
