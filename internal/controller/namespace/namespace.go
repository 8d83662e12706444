package namespace

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/tools/cache"
	"k8s.io/utils/clock"

	"skiff/internal/controller"
	"skiff/internal/controller/reconcile"
)

// requeueRemaining is how soon a namespace with remaining content is looked at again.
const requeueRemaining = time.Second

// Controller deletes the content of terminating namespaces.
type Controller struct {
	client     kubernetes.Interface
	metadata   metadata.Interface
	namespaces cache.SharedIndexInformer
	clock      clock.PassiveClock
	loop       *reconcile.Loop
}

var _ controller.Controller = (*Controller)(nil)

// New is the Constructor of the namespace controller.
func New(cc controller.Context) (controller.Controller, error) {
	c := &Controller{
		client:     cc.Client,
		metadata:   cc.Metadata,
		namespaces: cc.Informers.Core().V1().Namespaces().Informer(),
		clock:      cc.Clock,
	}
	c.loop = reconcile.NewLoop("namespace", cc.Clock, cc.Logger, c.sync)
	c.loop.WaitFor(c.namespaces.HasSynced)
	enqueue := func(obj any) {
		if ns, ok := obj.(*corev1.Namespace); ok && ns.DeletionTimestamp != nil {
			c.loop.Add(ns.Name)
		}
	}
	if _, err := c.namespaces.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: enqueue, UpdateFunc: func(_, o any) { enqueue(o) },
	}); err != nil {
		return nil, fmt.Errorf("new namespace controller: %w", err)
	}
	return c, nil
}

// Run implements controller.Controller.
func (c *Controller) Run(ctx context.Context, workers int) error {
	return c.loop.Run(ctx, workers)
}

// resource is one namespaced resource to empty.
type resource struct {
	gvr              schema.GroupVersionResource
	deleteCollection bool
}

// progress is what one pass over the namespace found.
type progress struct {
	discoveryErr error
	parseErr     error
	deleteErrs   []error
	remaining    map[string]int // "resource.group" -> count
	finalizers   map[string]int // finalizer -> count
}

func (c *Controller) sync(ctx context.Context, name string) (reconcile.Result, error) {
	obj, ok, err := c.namespaces.GetIndexer().GetByKey(name)
	if err != nil || !ok {
		return reconcile.Result{}, err
	}
	ns := obj.(*corev1.Namespace)
	if ns.DeletionTimestamp == nil {
		return reconcile.Result{}, nil
	}
	// Read the live object: the cache may lag the finalize call.
	ns, err = c.client.CoreV1().Namespaces().Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return reconcile.Result{}, nil
	}
	if err != nil {
		return reconcile.Result{}, fmt.Errorf("get namespace %s: %w", name, err)
	}
	if !hasFinalizer(ns) {
		return reconcile.Result{}, nil
	}
	p := c.deleteContent(ctx, name)
	if err := c.updateConditions(ctx, ns, p, c.clock.Now()); err != nil {
		return reconcile.Result{}, err
	}
	if p.discoveryErr != nil || len(p.deleteErrs) > 0 {
		return reconcile.Result{}, fmt.Errorf("delete content of namespace %s: %w", name, errors.Join(append(p.deleteErrs, p.discoveryErr)...))
	}
	if len(p.remaining) > 0 {
		return reconcile.Result{RequeueAfter: requeueRemaining}, nil
	}
	return reconcile.Result{}, c.finalize(ctx, ns)
}

func hasFinalizer(ns *corev1.Namespace) bool {
	for _, f := range ns.Spec.Finalizers {
		if f == corev1.FinalizerKubernetes {
			return true
		}
	}
	return false
}

// discover lists the namespaced resources whose objects can be deleted.
func (c *Controller) discover() ([]resource, error, error) {
	lists, discErr := c.client.Discovery().ServerPreferredNamespacedResources()
	var out []resource
	var parseErrs []error
	for _, l := range lists {
		gv, err := schema.ParseGroupVersion(l.GroupVersion)
		if err != nil {
			parseErrs = append(parseErrs, err)
			continue
		}
		for _, r := range l.APIResources {
			if strings.Contains(r.Name, "/") {
				continue
			}
			verbs := map[string]bool{}
			for _, v := range r.Verbs {
				verbs[v] = true
			}
			if !verbs["list"] || !verbs["delete"] && !verbs["deletecollection"] {
				continue
			}
			out = append(out, resource{gvr: gv.WithResource(r.Name), deleteCollection: verbs["deletecollection"]})
		}
	}
	if discErr != nil && !discovery.IsGroupDiscoveryFailedError(discErr) {
		return nil, discErr, errors.Join(parseErrs...)
	}
	return out, discErr, errors.Join(parseErrs...)
}

// deleteContent deletes everything in namespace and reports what remains.
// Pods go first: the rest of the content is left alone until no pod
// remains, so that no pod runs on without the objects it uses (upstream's
// ordered namespace deletion).
func (c *Controller) deleteContent(ctx context.Context, namespace string) progress {
	p := progress{remaining: map[string]int{}, finalizers: map[string]int{}}
	resources, discErr, parseErr := c.discover()
	p.discoveryErr, p.parseErr = discErr, parseErr
	var pods, rest []resource
	for _, r := range resources {
		if r.gvr == podsGVR {
			pods = append(pods, r)
		} else {
			rest = append(rest, r)
		}
	}
	c.deleteAll(ctx, namespace, pods, &p)
	if len(p.remaining) > 0 || len(p.deleteErrs) > 0 {
		return p
	}
	c.deleteAll(ctx, namespace, rest, &p)
	return p
}

// podsGVR is the resource ordered deletion removes first.
var podsGVR = schema.GroupVersionResource{Version: "v1", Resource: "pods"}

// deleteAll deletes the objects of resources in namespace, several
// resources at a time, and adds what remains to p.
func (c *Controller) deleteAll(ctx context.Context, namespace string, resources []resource, p *progress) {
	var mu sync.Mutex
	var wg sync.WaitGroup
	sem := make(chan struct{}, 8)
	for _, r := range resources {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			remaining, fins, err := c.deleteResource(ctx, namespace, r)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				p.deleteErrs = append(p.deleteErrs, err)
			}
			if remaining > 0 {
				p.remaining[r.gvr.GroupResource().String()] += remaining
			}
			for f, n := range fins {
				p.finalizers[f] += n
			}
		})
	}
	wg.Wait()
}

func (c *Controller) deleteResource(ctx context.Context, namespace string, r resource) (int, map[string]int, error) {
	client := c.metadata.Resource(r.gvr).Namespace(namespace)
	background := metav1.DeletePropagationBackground
	opts := metav1.DeleteOptions{PropagationPolicy: &background}
	if r.deleteCollection {
		err := client.DeleteCollection(ctx, opts, metav1.ListOptions{})
		switch {
		case err == nil:
		case apierrors.IsMethodNotSupported(err) || apierrors.IsNotFound(err):
			r.deleteCollection = false
		default:
			return 0, nil, fmt.Errorf("delete collection %s: %w", r.gvr.GroupResource(), err)
		}
	}
	list, err := client.List(ctx, metav1.ListOptions{})
	if apierrors.IsNotFound(err) || apierrors.IsMethodNotSupported(err) {
		return 0, nil, nil
	}
	if err != nil {
		return 0, nil, fmt.Errorf("list %s: %w", r.gvr.GroupResource(), err)
	}
	fins := map[string]int{}
	var errs []error
	for _, item := range list.Items {
		for _, f := range item.Finalizers {
			fins[f]++
		}
		if item.DeletionTimestamp != nil || r.deleteCollection {
			continue
		}
		if err := client.Delete(ctx, item.Name, opts); err != nil && !apierrors.IsNotFound(err) {
			errs = append(errs, fmt.Errorf("delete %s %s: %w", r.gvr.GroupResource(), item.Name, err))
		}
	}
	return len(list.Items), fins, errors.Join(errs...)
}

// updateConditions writes the deletion conditions when they changed.
func (c *Controller) updateConditions(ctx context.Context, ns *corev1.Namespace, p progress, now time.Time) error {
	want := conditions(p, now)
	cp := ns.DeepCopy()
	changed := false
	for _, w := range want {
		found := false
		for i := range cp.Status.Conditions {
			cur := &cp.Status.Conditions[i]
			if cur.Type != w.Type {
				continue
			}
			found = true
			if cur.Status != w.Status || cur.Reason != w.Reason || cur.Message != w.Message {
				if cur.Status == w.Status {
					w.LastTransitionTime = cur.LastTransitionTime
				}
				*cur = w
				changed = true
			}
		}
		if !found {
			cp.Status.Conditions = append(cp.Status.Conditions, w)
			changed = true
		}
	}
	if !changed {
		return nil
	}
	if _, err := c.client.CoreV1().Namespaces().UpdateStatus(ctx, cp, metav1.UpdateOptions{}); err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
		return fmt.Errorf("update namespace status %s: %w", ns.Name, err)
	}
	return nil
}

// conditions turns one pass's findings into upstream's five conditions.
func conditions(p progress, now time.Time) []corev1.NamespaceCondition {
	cond := func(t corev1.NamespaceConditionType, bad bool, badReason, badMsg, okReason, okMsg string) corev1.NamespaceCondition {
		c := corev1.NamespaceCondition{Type: t, LastTransitionTime: metav1.NewTime(now)}
		if bad {
			c.Status, c.Reason, c.Message = corev1.ConditionTrue, badReason, badMsg
		} else {
			c.Status, c.Reason, c.Message = corev1.ConditionFalse, okReason, okMsg
		}
		return c
	}
	errMsg := func(err error) string {
		if err == nil {
			return ""
		}
		return "Discovery failed for some groups: " + err.Error()
	}
	var deleteMsg string
	if len(p.deleteErrs) > 0 {
		msgs := make([]string, len(p.deleteErrs))
		for i, e := range p.deleteErrs {
			msgs[i] = e.Error()
		}
		sort.Strings(msgs)
		deleteMsg = "Failed to delete all resource types, " + fmt.Sprint(len(msgs)) + " remaining: " + strings.Join(msgs, ", ")
	}
	return []corev1.NamespaceCondition{
		cond(corev1.NamespaceDeletionDiscoveryFailure, p.discoveryErr != nil, "DiscoveryFailed", errMsg(p.discoveryErr),
			"ResourcesDiscovered", "All resources successfully discovered"),
		cond(corev1.NamespaceDeletionGVParsingFailure, p.parseErr != nil, "GroupVersionParsingFailed", fmt.Sprint(p.parseErr),
			"ParsedGroupVersions", "All legacy kube types successfully parsed"),
		cond(corev1.NamespaceDeletionContentFailure, len(p.deleteErrs) > 0, "ContentDeletionFailed", deleteMsg,
			"ContentDeleted", "All content successfully deleted, may be waiting on finalization"),
		cond(corev1.NamespaceContentRemaining, len(p.remaining) > 0, "SomeResourcesRemain", "Some resources are remaining: "+countList(p.remaining, "instances"),
			"ContentRemoved", "All content successfully removed"),
		cond(corev1.NamespaceFinalizersRemaining, len(p.finalizers) > 0, "SomeFinalizersRemain", "Some content in the namespace has finalizers remaining: "+countList(p.finalizers, "resource instances"),
			"ContentHasNoFinalizers", "All content-preserving finalizers finished"),
	}
}

func countList(m map[string]int, unit string) string {
	parts := make([]string, 0, len(m))
	for k, n := range m {
		parts = append(parts, fmt.Sprintf("%s has %d %s", k, n, unit))
	}
	sort.Strings(parts)
	return strings.Join(parts, ", ")
}

// finalize removes the kubernetes finalizer so the namespace can go.
func (c *Controller) finalize(ctx context.Context, ns *corev1.Namespace) error {
	cp := ns.DeepCopy()
	var keep []corev1.FinalizerName
	for _, f := range cp.Spec.Finalizers {
		if f != corev1.FinalizerKubernetes {
			keep = append(keep, f)
		}
	}
	cp.Spec.Finalizers = keep
	_, err := c.client.CoreV1().Namespaces().Finalize(ctx, cp, metav1.UpdateOptions{})
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("finalize namespace %s: %w", ns.Name, err)
	}
	return nil
}
