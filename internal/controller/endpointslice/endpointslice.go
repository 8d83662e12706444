package endpointslice

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"sort"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"

	"skiff/internal/controller"
	"skiff/internal/controller/reconcile"
)

// errStaleCache requeues a Service whose slices the informer has not yet
// caught up with.
var errStaleCache = errors.New("endpoint slice cache is behind this controller's writes")

// Controller maintains EndpointSlices from Services and pods.
type Controller struct {
	client   kubernetes.Interface
	services cache.SharedIndexInformer
	pods     cache.SharedIndexInformer
	slices   cache.SharedIndexInformer
	nodes    cache.SharedIndexInformer
	loop     *reconcile.Loop
	tracker  *reconcile.WriteTracker
}

var _ controller.Controller = (*Controller)(nil)

// New is the Constructor of the EndpointSlice controller.
func New(cc controller.Context) (controller.Controller, error) {
	c := &Controller{
		client:   cc.Client,
		services: cc.Informers.Core().V1().Services().Informer(),
		pods:     cc.Informers.Core().V1().Pods().Informer(),
		slices:   cc.Informers.Discovery().V1().EndpointSlices().Informer(),
		nodes:    cc.Informers.Core().V1().Nodes().Informer(),
		tracker:  reconcile.NewWriteTracker(),
	}
	c.loop = reconcile.NewLoop("endpoint_slice", cc.Clock, cc.Logger, c.sync)
	c.loop.WaitFor(c.services.HasSynced, c.pods.HasSynced, c.slices.HasSynced, c.nodes.HasSynced)
	// A Service's sync reads its own pods through the label index, not
	// every pod of its namespace.
	if err := reconcile.AddLabelIndex(c.pods); err != nil {
		return nil, fmt.Errorf("new endpointslice controller: %w", err)
	}
	enqueue := func(obj any) {
		if key := reconcile.KeyOf(obj); key != "" {
			c.loop.Add(key)
		}
	}
	if _, err := c.services.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: enqueue, UpdateFunc: func(_, o any) { enqueue(o) }, DeleteFunc: enqueue,
	}); err != nil {
		return nil, fmt.Errorf("new endpointslice controller: %w", err)
	}
	sliceChanged := func(obj any) {
		s, ok := reconcile.Tombstone(obj).(*discoveryv1.EndpointSlice)
		if ok && s.Labels[discoveryv1.LabelManagedBy] == ControllerName && s.Labels[discoveryv1.LabelServiceName] != "" {
			c.loop.Add(s.Namespace + "/" + s.Labels[discoveryv1.LabelServiceName])
		}
	}
	if _, err := c.slices.AddEventHandler(cache.ResourceEventHandlerFuncs{
		UpdateFunc: func(_, o any) { sliceChanged(o) },
		DeleteFunc: func(o any) {
			// A slice deleted by someone else (or with its owner) is
			// gone from the cache for good: a write recorded for it
			// must not hold the Service's syncs back, as upstream's
			// tracker forgets a deleted slice.
			if s, ok := reconcile.Tombstone(o).(*discoveryv1.EndpointSlice); ok && s.Labels[discoveryv1.LabelServiceName] != "" {
				c.tracker.Record(s.Namespace+"/"+s.Labels[discoveryv1.LabelServiceName], s.Name, "")
			}
			sliceChanged(o)
		},
	}); err != nil {
		return nil, fmt.Errorf("new endpointslice controller: %w", err)
	}
	if _, err := c.pods.AddEventHandler(reconcile.ServicePodHandler(c.services.GetIndexer(), c.loop)); err != nil {
		return nil, fmt.Errorf("new endpointslice controller: %w", err)
	}
	return c, nil
}

// Run implements controller.Controller.
func (c *Controller) Run(ctx context.Context, workers int) error {
	return c.loop.Run(ctx, workers)
}

func (c *Controller) zoneOf(node string) string {
	obj, ok, _ := c.nodes.GetIndexer().GetByKey(node)
	if !ok {
		return ""
	}
	return obj.(*corev1.Node).Labels[zoneLabel]
}

func (c *Controller) sync(ctx context.Context, key string) (reconcile.Result, error) {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return reconcile.Result{}, nil
	}
	obj, ok, err := c.services.GetIndexer().GetByKey(key)
	if err != nil {
		return reconcile.Result{}, err
	}
	if !ok {
		// Slices of a deleted Service go with it (owner references).
		c.tracker.Forget(key)
		return reconcile.Result{}, nil
	}
	svc := obj.(*corev1.Service)
	if svc.Spec.Selector == nil || svc.Spec.Type == corev1.ServiceTypeExternalName || svc.DeletionTimestamp != nil {
		return reconcile.Result{}, nil
	}
	if ns == "default" && name == "kubernetes" {
		return reconcile.Result{}, nil
	}
	pods, err := reconcile.PodsSelectedBy(c.pods.GetIndexer(), ns, svc.Spec.Selector)
	if err != nil {
		return reconcile.Result{}, err
	}
	desired := desiredSlices(svc, pods, c.zoneOf)
	existing, err := c.owned(svc)
	if err != nil {
		return reconcile.Result{}, err
	}
	if c.tracker.Stale(key, versions(existing)) {
		return reconcile.Result{}, errStaleCache
	}
	return reconcile.Result{}, c.apply(ctx, svc, desired, existing)
}

// owned returns the slices this controller manages for svc, by name.
func (c *Controller) owned(svc *corev1.Service) ([]*discoveryv1.EndpointSlice, error) {
	objs, err := c.slices.GetIndexer().ByIndex(cache.NamespaceIndex, svc.Namespace)
	if err != nil {
		return nil, err
	}
	var out []*discoveryv1.EndpointSlice
	for _, o := range objs {
		s := o.(*discoveryv1.EndpointSlice)
		if s.Labels[discoveryv1.LabelServiceName] == svc.Name && s.Labels[discoveryv1.LabelManagedBy] == ControllerName && s.DeletionTimestamp == nil {
			out = append(out, s)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

func (c *Controller) labelsFor(svc *corev1.Service) map[string]string {
	l := maps.Clone(svc.Labels)
	if l == nil {
		l = map[string]string{}
	}
	l[discoveryv1.LabelServiceName] = svc.Name
	l[discoveryv1.LabelManagedBy] = ControllerName
	if svc.Spec.ClusterIP == corev1.ClusterIPNone {
		l[headlessLabel] = ""
	}
	return l
}

// apply turns existing slices into desired ones: same-shaped slices are
// reused in name order, the rest created or deleted.
func (c *Controller) apply(ctx context.Context, svc *corev1.Service, desired []sliceSpec, existing []*discoveryv1.EndpointSlice) error {
	lbls := c.labelsFor(svc)
	svcKey := svc.Namespace + "/" + svc.Name
	free := map[string][]*discoveryv1.EndpointSlice{}
	for _, s := range existing {
		k := sliceSpec{addressType: s.AddressType, ports: s.Ports}.key()
		free[k] = append(free[k], s)
	}
	var errs []error
	client := c.client.DiscoveryV1().EndpointSlices(svc.Namespace)
	for _, d := range desired {
		k := d.key()
		if len(free[k]) > 0 {
			cur := free[k][0]
			free[k] = free[k][1:]
			if sameEndpoints(cur.Endpoints, d.endpoints) && maps.Equal(cur.Labels, lbls) && metav1.IsControlledBy(cur, svc) {
				continue
			}
			up := cur.DeepCopy()
			up.Endpoints, up.Labels = d.endpoints, lbls
			up.OwnerReferences = []metav1.OwnerReference{reconcile.ControllerRef(svc, "v1", "Service")}
			got, err := client.Update(ctx, up, metav1.UpdateOptions{})
			if err != nil && !apierrors.IsNotFound(err) {
				errs = append(errs, fmt.Errorf("update endpoint slice %s: %w", cur.Name, err))
			} else if err == nil {
				c.tracker.Record(svcKey, got.Name, got.ResourceVersion)
			}
			continue
		}
		s := &discoveryv1.EndpointSlice{
			ObjectMeta: metav1.ObjectMeta{
				GenerateName:    svc.Name + "-",
				Namespace:       svc.Namespace,
				Labels:          lbls,
				OwnerReferences: []metav1.OwnerReference{reconcile.ControllerRef(svc, "v1", "Service")},
			},
			AddressType: d.addressType,
			Endpoints:   d.endpoints,
			Ports:       d.ports,
		}
		got, err := client.Create(ctx, s, metav1.CreateOptions{})
		if err != nil && !reconcile.NamespaceTerminating(err) {
			errs = append(errs, fmt.Errorf("create endpoint slice for %s/%s: %w", svc.Namespace, svc.Name, err))
		} else if err == nil {
			c.tracker.Record(svcKey, got.Name, got.ResourceVersion)
		}
	}
	for _, rest := range free {
		for _, s := range rest {
			if err := client.Delete(ctx, s.Name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
				errs = append(errs, fmt.Errorf("delete endpoint slice %s: %w", s.Name, err))
			} else {
				c.tracker.Record(svcKey, s.Name, "")
			}
		}
	}
	return errors.Join(errs...)
}

func sameEndpoints(a, b []discoveryv1.Endpoint) bool {
	if len(a) == 0 && len(b) == 0 {
		return true
	}
	return apiequality.Semantic.DeepEqual(a, b)
}

func versions(slices []*discoveryv1.EndpointSlice) map[string]string {
	m := make(map[string]string, len(slices))
	for _, s := range slices {
		m[s.Name] = s.ResourceVersion
	}
	return m
}
