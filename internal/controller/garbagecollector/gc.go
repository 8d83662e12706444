package garbagecollector

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/restmapper"
	"k8s.io/client-go/tools/cache"

	"skiff/internal/controller"
	"skiff/internal/controller/reconcile"
)

// syncTimeout bounds the wait for the first lists of every resource.
const syncTimeout = time.Minute

// rediscoveryPeriod is how often new resources (CRDs) are looked for.
const rediscoveryPeriod = 30 * time.Second

// ignored are resources never garbage collected, as upstream: events are
// too many to watch and carry no owners.
var ignored = map[schema.GroupResource]bool{
	{Group: "", Resource: "events"}:              true,
	{Group: "events.k8s.io", Resource: "events"}: true,
}

// Controller is the garbage collector.
type Controller struct {
	discovery discovery.DiscoveryInterface
	mapper    *restmapper.DeferredDiscoveryRESTMapper
	metadata  metadata.Interface
	factory   controller.ObjectInformers
	logger    *slog.Logger
	graph     *graph
	deletes   *reconcile.TypedLoop[objectRef]
	orphans   *reconcile.TypedLoop[objectRef]

	mu       sync.Mutex
	watching map[schema.GroupVersionResource]cache.SharedIndexInformer
}

var _ controller.Controller = (*Controller)(nil)

// New is the Constructor of the garbage collector.
func New(cc controller.Context) (controller.Controller, error) {
	disc := cc.Client.Discovery()
	c := &Controller{
		discovery: disc,
		mapper:    restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(disc)),
		metadata:  cc.Metadata,
		factory:   cc.ObjectInformers(),
		logger:    cc.Logger,
		graph:     newGraph(),
		watching:  map[schema.GroupVersionResource]cache.SharedIndexInformer{},
	}
	// Both loops start once Run has waited for the graph's first lists.
	c.deletes = reconcile.NewTypedLoop("garbage_collector_attempt_to_delete", cc.Clock, cc.Logger, c.attemptToDelete)
	c.orphans = reconcile.NewTypedLoop("garbage_collector_attempt_to_orphan", cc.Clock, cc.Logger, c.attemptToOrphan)
	return c, nil
}

// Run implements controller.Controller. It watches every deletable
// resource, waits for the first lists, then runs the workers.
func (c *Controller) Run(ctx context.Context, workers int) error {
	synced, err := c.watchNew(ctx)
	if err != nil && len(synced) == 0 {
		return fmt.Errorf("run garbage collector: %w", err)
	}
	// A resource whose list keeps failing must not stall collection
	// forever: decisions re-read live state, so acting on a partial graph
	// only costs extra reads.
	sctx, cancel := context.WithTimeout(ctx, syncTimeout)
	ok := cache.WaitForCacheSync(sctx.Done(), synced...)
	cancel()
	if ctx.Err() != nil {
		return nil
	}
	if ok {
		c.logger.Info("garbage collector synced", "resources", len(synced))
	} else {
		c.logger.Warn("garbage collector starting before all resources synced", "resources", len(synced))
	}
	var wg sync.WaitGroup
	var deleteErr, orphanErr error
	wg.Go(func() { deleteErr = c.deletes.Run(ctx, workers) })
	wg.Go(func() { orphanErr = c.orphans.Run(ctx, max(workers/4, 1)) })
	wg.Go(func() {
		t := time.NewTicker(rediscoveryPeriod)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				c.mapper.Reset()
				if _, err := c.watchNew(ctx); err != nil {
					c.logger.Debug("rediscovery incomplete", "err", err)
				}
			}
		}
	})
	wg.Wait()
	return errors.Join(deleteErr, orphanErr)
}

// deletableResources lists the preferred version of every resource the
// collector can watch and delete.
func (c *Controller) deletableResources() ([]schema.GroupVersionResource, error) {
	lists, err := c.discovery.ServerPreferredResources()
	if err != nil && !discovery.IsGroupDiscoveryFailedError(err) {
		return nil, fmt.Errorf("discover resources: %w", err)
	}
	var out []schema.GroupVersionResource
	for _, l := range lists {
		gv, perr := schema.ParseGroupVersion(l.GroupVersion)
		if perr != nil {
			continue
		}
		for _, r := range l.APIResources {
			if strings.Contains(r.Name, "/") || ignored[gv.WithResource(r.Name).GroupResource()] {
				continue
			}
			if slices.Contains(r.Verbs, "list") && slices.Contains(r.Verbs, "watch") && slices.Contains(r.Verbs, "delete") {
				out = append(out, gv.WithResource(r.Name))
			}
		}
	}
	return out, err
}

// watchNew starts metadata informers for resources not yet watched and
// returns their HasSynced functions.
func (c *Controller) watchNew(ctx context.Context) ([]cache.InformerSynced, error) {
	gvrs, err := c.deletableResources()
	var synced []cache.InformerSynced
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, gvr := range gvrs {
		if _, ok := c.watching[gvr]; ok {
			continue
		}
		inf := c.factory.ForResource(gvr).Informer()
		if _, herr := inf.AddEventHandler(c.handler(gvr)); herr != nil {
			err = errors.Join(err, herr)
			continue
		}
		c.watching[gvr] = inf
		synced = append(synced, inf.HasSynced)
	}
	c.factory.Start(ctx.Done())
	return synced, err
}

func (c *Controller) handler(gvr schema.GroupVersionResource) cache.ResourceEventHandler {
	refOf := func(m metav1.Object) objectRef {
		return objectRef{GVR: gvr, Namespace: m.GetNamespace(), Name: m.GetName(), UID: m.GetUID()}
	}
	return cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { c.observe(refOf(obj.(metav1.Object)), obj.(metav1.Object)) },
		UpdateFunc: func(_, obj any) { c.observe(refOf(obj.(metav1.Object)), obj.(metav1.Object)) },
		DeleteFunc: func(obj any) {
			m, ok := reconcile.Tombstone(obj).(metav1.Object)
			if !ok {
				return
			}
			ref := refOf(m)
			owners := c.graph.remove(ref.UID)
			// Dependents of a vanished owner may now be garbage.
			for _, d := range c.graph.dependentsOf(ref.UID, false) {
				c.deletes.Add(d.ref)
			}
			c.wakeDeletingOwners(owners)
		},
	}
}

// observe updates the graph with an added or changed object and enqueues
// what the change may have made actionable.
func (c *Controller) observe(ref objectRef, m metav1.Object) {
	old, isNew := c.graph.upsert(ref, m)
	if m.GetDeletionTimestamp() != nil {
		if hasFinalizer(m, metav1.FinalizerOrphanDependents) {
			c.orphans.Add(ref)
		}
		if hasFinalizer(m, metav1.FinalizerDeleteDependents) {
			c.deletes.Add(ref)
		}
	}
	owners := m.GetOwnerReferences()
	if len(owners) > 0 && (isNew || !slices.EqualFunc(old, owners, func(a, b metav1.OwnerReference) bool { return a.UID == b.UID })) {
		for _, o := range owners {
			if n, ok := c.graph.get(o.UID); !ok || n.deletingDependents {
				// An owner we have not seen may be dangling; check it.
				c.deletes.Add(ref)
				break
			}
		}
	}
	c.wakeDeletingOwners(old)
	c.wakeDeletingOwners(owners)
}

// wakeDeletingOwners requeues owners in foreground deletion, which wait
// for their dependents to go.
func (c *Controller) wakeDeletingOwners(owners []metav1.OwnerReference) {
	for _, o := range owners {
		if n, ok := c.graph.get(o.UID); ok && n.deletingDependents {
			c.deletes.Add(n.ref)
		}
	}
}

// getLive reads ref's current metadata; nil when it is gone or replaced.
func (c *Controller) getLive(ctx context.Context, ref objectRef) (*metav1.PartialObjectMetadata, error) {
	m, err := c.metadata.Resource(ref.GVR).Namespace(ref.Namespace).Get(ctx, ref.Name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("get %s %s/%s: %w", ref.GVR.Resource, ref.Namespace, ref.Name, err)
	}
	if m.UID != ref.UID {
		return nil, nil
	}
	return m, nil
}

// ownerState is what one owner reference points at.
type ownerState int

const (
	ownerSolid ownerState = iota
	ownerDangling
	ownerWaiting // in foreground deletion, waiting for its dependents
)

// resolveOwner finds the state of the owner referenced from an object in
// namespace.
func (c *Controller) resolveOwner(ctx context.Context, namespace string, o metav1.OwnerReference) (ownerState, error) {
	if n, ok := c.graph.get(o.UID); ok {
		if n.deletingDependents {
			return ownerWaiting, nil
		}
		return ownerSolid, nil
	}
	gv, err := schema.ParseGroupVersion(o.APIVersion)
	if err != nil {
		return ownerDangling, nil
	}
	mapping, err := c.mapper.RESTMapping(gv.WithKind(o.Kind).GroupKind(), gv.Version)
	if err != nil {
		c.mapper.Reset()
		return 0, fmt.Errorf("map owner kind %s: %w", o.Kind, err)
	}
	ns := ""
	if mapping.Scope.Name() == meta.RESTScopeNameNamespace {
		ns = namespace
	}
	live, err := c.getLive(ctx, objectRef{GVR: mapping.Resource, Namespace: ns, Name: o.Name, UID: o.UID})
	if err != nil {
		return 0, err
	}
	switch {
	case live == nil:
		return ownerDangling, nil
	case deletingDependents(live):
		return ownerWaiting, nil
	}
	return ownerSolid, nil
}

func (c *Controller) attemptToDelete(ctx context.Context, ref objectRef) (reconcile.Result, error) {
	obj, err := c.getLive(ctx, ref)
	if err != nil || obj == nil {
		return reconcile.Result{}, err
	}
	if deletingDependents(obj) {
		return reconcile.Result{}, c.processDeletingDependents(ctx, ref, obj)
	}
	if obj.DeletionTimestamp != nil {
		return reconcile.Result{}, nil
	}
	owners := obj.OwnerReferences
	if len(owners) == 0 {
		return reconcile.Result{}, nil
	}
	var solid, dangling, waiting []metav1.OwnerReference
	for _, o := range owners {
		st, err := c.resolveOwner(ctx, obj.Namespace, o)
		if err != nil {
			return reconcile.Result{}, err
		}
		switch st {
		case ownerSolid:
			solid = append(solid, o)
		case ownerDangling:
			dangling = append(dangling, o)
		case ownerWaiting:
			waiting = append(waiting, o)
		}
	}
	switch {
	case len(solid) > 0:
		if len(dangling)+len(waiting) == 0 {
			return reconcile.Result{}, nil
		}
		// Keep the object for its live owners; forget the others.
		drop := map[types.UID]bool{}
		for _, o := range append(dangling, waiting...) {
			drop[o.UID] = true
		}
		return reconcile.Result{}, c.patchOwners(ctx, ref, obj, func(o metav1.OwnerReference) (metav1.OwnerReference, bool) { return o, !drop[o.UID] })
	case len(waiting) > 0 && len(c.graph.dependentsOf(ref.UID, false)) > 0:
		// The owners wait for this object, which has dependents of its
		// own: delete it in the foreground too, after unblocking the
		// owners so they do not wait on it forever if it cannot go.
		wait := map[types.UID]bool{}
		for _, o := range waiting {
			wait[o.UID] = true
		}
		err := c.patchOwners(ctx, ref, obj, func(o metav1.OwnerReference) (metav1.OwnerReference, bool) {
			if wait[o.UID] {
				f := false
				o.BlockOwnerDeletion = &f
			}
			return o, true
		})
		if err != nil {
			return reconcile.Result{}, err
		}
		return reconcile.Result{}, c.delete(ctx, ref, metav1.DeletePropagationForeground)
	}
	policy := metav1.DeletePropagationBackground
	switch {
	case hasFinalizer(obj, metav1.FinalizerOrphanDependents):
		policy = metav1.DeletePropagationOrphan
	case hasFinalizer(obj, metav1.FinalizerDeleteDependents):
		policy = metav1.DeletePropagationForeground
	}
	return reconcile.Result{}, c.delete(ctx, ref, policy)
}

func (c *Controller) delete(ctx context.Context, ref objectRef, policy metav1.DeletionPropagation) error {
	uid := ref.UID
	err := c.metadata.Resource(ref.GVR).Namespace(ref.Namespace).Delete(ctx, ref.Name, metav1.DeleteOptions{
		Preconditions: &metav1.Preconditions{UID: &uid}, PropagationPolicy: &policy,
	})
	if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
		return fmt.Errorf("delete %s %s/%s: %w", ref.GVR.Resource, ref.Namespace, ref.Name, err)
	}
	return nil
}

// processDeletingDependents deletes an owner's dependents and, once none
// blocks it, removes its foregroundDeletion finalizer.
func (c *Controller) processDeletingDependents(ctx context.Context, ref objectRef, obj *metav1.PartialObjectMetadata) error {
	blocking := c.graph.dependentsOf(ref.UID, true)
	if len(blocking) == 0 {
		return c.removeFinalizer(ctx, ref, obj, metav1.FinalizerDeleteDependents)
	}
	for _, d := range c.graph.dependentsOf(ref.UID, false) {
		if !d.deletingDependents {
			c.deletes.Add(d.ref)
		}
	}
	return nil
}

func (c *Controller) attemptToOrphan(ctx context.Context, ref objectRef) (reconcile.Result, error) {
	obj, err := c.getLive(ctx, ref)
	if err != nil || obj == nil {
		return reconcile.Result{}, err
	}
	if obj.DeletionTimestamp == nil || !hasFinalizer(obj, metav1.FinalizerOrphanDependents) {
		return reconcile.Result{}, nil
	}
	var errs []error
	for _, d := range c.graph.dependentsOf(ref.UID, false) {
		dep, err := c.getLive(ctx, d.ref)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if dep == nil {
			continue
		}
		err = c.patchOwners(ctx, d.ref, dep, func(o metav1.OwnerReference) (metav1.OwnerReference, bool) { return o, o.UID != ref.UID })
		if err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return reconcile.Result{}, fmt.Errorf("orphan dependents of %s/%s: %w", ref.Namespace, ref.Name, err)
	}
	return reconcile.Result{}, c.removeFinalizer(ctx, ref, obj, metav1.FinalizerOrphanDependents)
}

// patchOwners rewrites obj's ownerReferences through keep, guarded by its
// resourceVersion so a concurrent change makes it retry.
func (c *Controller) patchOwners(ctx context.Context, ref objectRef, obj *metav1.PartialObjectMetadata, keep func(metav1.OwnerReference) (metav1.OwnerReference, bool)) error {
	refs := []metav1.OwnerReference{}
	changed := false
	for _, o := range obj.OwnerReferences {
		n, ok := keep(o)
		if !ok {
			changed = true
			continue
		}
		if (n.BlockOwnerDeletion == nil) != (o.BlockOwnerDeletion == nil) || n.BlockOwnerDeletion != nil && *n.BlockOwnerDeletion != *o.BlockOwnerDeletion {
			changed = true
		}
		refs = append(refs, n)
	}
	if !changed {
		return nil
	}
	var v any = refs
	if len(refs) == 0 {
		v = nil
	}
	return c.patchMeta(ctx, ref, obj, "ownerReferences", v)
}

func (c *Controller) removeFinalizer(ctx context.Context, ref objectRef, obj *metav1.PartialObjectMetadata, f string) error {
	var rest []string
	for _, x := range obj.Finalizers {
		if x != f {
			rest = append(rest, x)
		}
	}
	var v any = rest
	if len(rest) == 0 {
		v = nil
	}
	return c.patchMeta(ctx, ref, obj, "finalizers", v)
}

func (c *Controller) patchMeta(ctx context.Context, ref objectRef, obj *metav1.PartialObjectMetadata, field string, v any) error {
	patch, _ := json.Marshal(map[string]any{"metadata": map[string]any{
		field: v, "uid": obj.UID, "resourceVersion": obj.ResourceVersion,
	}})
	_, err := c.metadata.Resource(ref.GVR).Namespace(ref.Namespace).Patch(ctx, ref.Name, types.MergePatchType, patch, metav1.PatchOptions{})
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("patch %s of %s %s/%s: %w", field, ref.GVR.Resource, ref.Namespace, ref.Name, err)
	}
	return nil
}
