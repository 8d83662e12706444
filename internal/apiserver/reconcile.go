package apiserver

import (
	"context"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// ReconcileFunc decides what to store in place of current: nil leaves it
// as it is; recreate deletes current and creates next (for what an update
// may not change, like a binding's roleRef).
type ReconcileFunc func(current runtime.Object) (next runtime.Object, recreate bool)

// Reconcile keeps a default object as decide wants it: it creates want
// when nothing of its name is stored, and otherwise stores what decide
// returns for the stored object, reading it again after a concurrent
// write. The server uses it for the bootstrap RBAC policy.
func (s *Server) Reconcile(ctx context.Context, gvr schema.GroupVersionResource, namespace string, want runtime.Object, decide ReconcileFunc) error {
	res, ok := s.lookup(gvr.Group, gvr.Version, gvr.Resource)
	if !ok {
		return nil
	}
	name := accessor(want).GetName()
	wo := writeOptions{fieldManager: "skiff", fieldValidation: "Ignore"}
	fail := func(err error) error { return fmt.Errorf("reconcile %s %s: %w", gvr.Resource, name, err) }
	for attempt := 0; attempt < 8; attempt++ {
		cur, err := s.readObject(ctx, res, namespace, name)
		if apierrors.IsNotFound(err) {
			obj := want.DeepCopyObject()
			setGVK(obj, res.gvk)
			if _, _, err := s.create(ctx, res, namespace, obj, wo); apierrors.IsAlreadyExists(err) {
				continue
			} else if err != nil {
				return fail(err)
			}
			return nil
		}
		if err != nil {
			return fail(err)
		}
		m := accessor(cur)
		if m.GetDeletionTimestamp() != nil {
			return nil // its deleter's, until it is gone
		}
		next, recreate := decide(cur)
		if next == nil {
			return nil
		}
		if recreate {
			uid, rv := m.GetUID(), m.GetResourceVersion()
			_, _, err := s.delete(ctx, res, namespace, name, &metav1.DeleteOptions{
				Preconditions: &metav1.Preconditions{UID: &uid, ResourceVersion: &rv}})
			if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
				return fail(err)
			}
			// Created on the next pass, when it is gone.
			continue
		}
		next = next.DeepCopyObject()
		setGVK(next, res.gvk)
		info := requestInfo{namespace: namespace, name: name, resource: gvr.Resource}
		_, err = s.update(ctx, res, info, m.GetResourceVersion(), func(runtime.Object) (runtime.Object, error) { return next, nil }, wo, nil)
		if apierrors.IsConflict(err) {
			continue
		}
		if err != nil {
			return fail(err)
		}
		return nil
	}
	return fail(fmt.Errorf("too many concurrent writes"))
}

// Read returns the stored object (not the watch cache's copy) of a
// resource, for in-process users that must see their own writes at once.
func (s *Server) Read(ctx context.Context, gvr schema.GroupVersionResource, namespace, name string) (runtime.Object, error) {
	res, ok := s.lookup(gvr.Group, gvr.Version, gvr.Resource)
	if !ok {
		return nil, apierrors.NewNotFound(gvr.GroupResource(), name)
	}
	obj, err := s.readObject(ctx, res, namespace, name)
	if err != nil {
		return nil, err
	}
	return res.fromStorage(ctx, obj)
}
