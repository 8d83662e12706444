package resourcequota

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"

	"skiff/internal/controller"
	"skiff/internal/controller/reconcile"
)

// resyncPeriod is how often every quota is recomputed without events.
const resyncPeriod = 5 * time.Minute

// Controller maintains ResourceQuota usage.
type Controller struct {
	client   kubernetes.Interface
	quotas   corelisters.ResourceQuotaLister
	pods     corelisters.PodLister
	services corelisters.ServiceLister
	pvcs     corelisters.PersistentVolumeClaimLister
	countInf controller.ObjectInformers
	loop     *reconcile.Loop
	logger   *slog.Logger

	mu      sync.Mutex
	counted map[schema.GroupVersionResource]cache.SharedIndexInformer
	stop    <-chan struct{} // set by Run; starts informers added later
	gvrs    map[string]schema.GroupVersionResource
}

var _ controller.Controller = (*Controller)(nil)

// New is the controller.Constructor for the resource quota controller.
func New(cc controller.Context) (controller.Controller, error) {
	var i informers.SharedInformerFactory = cc.Informers
	qInf, podInf, svcInf, pvcInf := i.Core().V1().ResourceQuotas(), i.Core().V1().Pods(), i.Core().V1().Services(), i.Core().V1().PersistentVolumeClaims()
	c := &Controller{client: cc.Client, quotas: qInf.Lister(), pods: podInf.Lister(), services: svcInf.Lister(),
		pvcs: pvcInf.Lister(), countInf: cc.ObjectInformers(), logger: cc.Logger,
		counted: map[schema.GroupVersionResource]cache.SharedIndexInformer{}, gvrs: map[string]schema.GroupVersionResource{}}
	c.loop = reconcile.NewLoop("resourcequota", cc.Clock, cc.Logger, c.sync)
	if _, err := qInf.Informer().AddEventHandler(quotaHandler(c.loop.Enqueue)); err != nil {
		return nil, fmt.Errorf("resourcequota: add handler: %w", err)
	}
	synced := []cache.InformerSynced{qInf.Informer().HasSynced}
	for _, inf := range []cache.SharedIndexInformer{podInf.Informer(), svcInf.Informer(), pvcInf.Informer()} {
		if _, err := inf.AddEventHandler(reconcile.Handler(c.namespaceEvent)); err != nil {
			return nil, fmt.Errorf("resourcequota: add handler: %w", err)
		}
		synced = append(synced, inf.HasSynced)
	}
	// The commonly counted kinds are watched from the start.
	for _, r := range []string{"configmaps", "secrets", "replicationcontrollers", "resourcequotas"} {
		gvr := corev1.SchemeGroupVersion.WithResource(r)
		inf := c.countInformer(gvr)
		synced = append(synced, inf.HasSynced)
	}
	c.loop.WaitFor(synced...)
	return c, nil
}

// Run runs workers until ctx is done.
func (c *Controller) Run(ctx context.Context, workers int) error {
	c.mu.Lock()
	c.stop = ctx.Done()
	c.mu.Unlock()
	return c.loop.Run(ctx, workers)
}

func (c *Controller) countInformer(gvr schema.GroupVersionResource) cache.SharedIndexInformer {
	c.mu.Lock()
	defer c.mu.Unlock()
	if inf, ok := c.counted[gvr]; ok {
		return inf
	}
	inf := c.countInf.ForResource(gvr).Informer()
	// Counts change only when objects come and go.
	_, _ = inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    c.namespaceEvent,
		DeleteFunc: func(obj any) { c.namespaceEvent(reconcile.Tombstone(obj)) },
	})
	c.counted[gvr] = inf
	if c.stop != nil {
		c.countInf.Start(c.stop)
	}
	return inf
}

// quotaHandler enqueues new and deleted quotas, and updated ones whose
// limits changed. An update of status.used alone is left alone, as
// upstream leaves it: quota admission charges a quota before the object it
// admitted is stored, and a recount then would miss that object and undo
// the charge.
func quotaHandler(enqueue func(obj any)) cache.ResourceEventHandlerFuncs {
	h := reconcile.Handler(enqueue)
	h.UpdateFunc = func(oldObj, newObj any) {
		q, ok := newObj.(*corev1.ResourceQuota)
		if !ok {
			return
		}
		old, _ := oldObj.(*corev1.ResourceQuota)
		if old == nil || !equality.Semantic.DeepEqual(q.Spec, old.Spec) || !equality.Semantic.DeepEqual(q.Spec.Hard, q.Status.Hard) {
			enqueue(newObj)
		}
	}
	return h
}

func (c *Controller) namespaceEvent(o any) {
	m, ok := o.(metav1.Object)
	if !ok {
		return
	}
	qs, _ := c.quotas.ResourceQuotas(m.GetNamespace()).List(labels.Everything())
	for _, q := range qs {
		c.loop.Enqueue(q)
	}
}

// resolve maps "<resource>[.<group>]" to a resource at its group's
// preferred version.
func (c *Controller) resolve(rg string) (schema.GroupVersionResource, error) {
	c.mu.Lock()
	gvr, ok := c.gvrs[rg]
	c.mu.Unlock()
	if ok {
		return gvr, nil
	}
	res, group, _ := strings.Cut(rg, ".")
	if group == "" {
		gvr = corev1.SchemeGroupVersion.WithResource(res)
	} else {
		groups, err := c.client.Discovery().ServerGroups()
		if err != nil {
			return gvr, fmt.Errorf("discover api groups: %w", err)
		}
		for _, g := range groups.Groups {
			if g.Name == group {
				gvr = schema.GroupVersionResource{Group: group, Version: g.PreferredVersion.Version, Resource: res}
			}
		}
		if gvr.Version == "" {
			return gvr, fmt.Errorf("resolve %s: no such api group", rg)
		}
	}
	c.mu.Lock()
	c.gvrs[rg] = gvr
	c.mu.Unlock()
	return gvr, nil
}

func (c *Controller) sync(ctx context.Context, key string) (reconcile.Result, error) {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return reconcile.Result{}, nil
	}
	q, err := c.quotas.ResourceQuotas(ns).Get(name)
	if apierrors.IsNotFound(err) {
		return reconcile.Result{}, nil
	}
	if err != nil {
		return reconcile.Result{}, err
	}
	// Recount every resyncPeriod even without events, whether or not this
	// sync fails.
	res := reconcile.Result{RequeueAfter: resyncPeriod}
	sel := labels.Everything()
	pods, err := c.pods.Pods(ns).List(sel)
	if err != nil {
		return res, err
	}
	svcs, err := c.services.Services(ns).List(sel)
	if err != nil {
		return res, err
	}
	pvcs, err := c.pvcs.PersistentVolumeClaims(ns).List(sel)
	if err != nil {
		return res, err
	}
	var pending bool
	var countErr error
	count := func(rg string) (int64, bool) {
		gvr, err := c.resolve(rg)
		if err != nil {
			countErr = err
			return 0, false
		}
		inf := c.countInformer(gvr)
		if !inf.HasSynced() {
			pending = true
			return 0, false
		}
		objs, err := inf.GetIndexer().ByIndex(cache.NamespaceIndex, ns)
		if err != nil {
			countErr = err
			return 0, false
		}
		return int64(len(objs)), true
	}
	used := computeUsage(q.Spec, objects{pods: pods, services: svcs, pvcs: pvcs, count: count})
	if pending {
		res.RequeueAfter = time.Second // a new informer is still listing
	}
	st := corev1.ResourceQuotaStatus{Hard: q.Spec.Hard, Used: used}
	if !equality.Semantic.DeepEqual(st, q.Status) {
		q = q.DeepCopy()
		q.Status = st
		if _, err := c.client.CoreV1().ResourceQuotas(ns).UpdateStatus(ctx, q, metav1.UpdateOptions{}); err != nil && !apierrors.IsNotFound(err) {
			return res, fmt.Errorf("update status of resourcequota %s: %w", key, err)
		}
	}
	return res, countErr
}
