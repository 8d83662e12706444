package endpointslicemirroring

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net"
	"sort"
	"strings"

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

// ControllerName is the managed-by value of mirrored slices.
const ControllerName = "endpointslicemirroring-controller.k8s.io"

// Limits as upstream: per slice, and per mirrored Endpoints.
const (
	maxEndpointsPerSlice = 100
	maxMirrored          = 1000
	skipMirrorLabel      = discoveryv1.LabelSkipMirror
	lastAppliedLabel     = "kubectl.kubernetes.io/last-applied-configuration"
)

// errStaleCache requeues Endpoints whose mirrored slices the informer has
// not yet caught up with.
var errStaleCache = errors.New("endpoint slice cache is behind this controller's writes")

// Controller mirrors Endpoints into EndpointSlices.
type Controller struct {
	client    kubernetes.Interface
	endpoints cache.SharedIndexInformer
	services  cache.SharedIndexInformer
	slices    cache.SharedIndexInformer
	loop      *reconcile.Loop
	tracker   *reconcile.WriteTracker
}

var _ controller.Controller = (*Controller)(nil)

// New is the Constructor of the mirroring controller.
func New(cc controller.Context) (controller.Controller, error) {
	c := &Controller{
		client:    cc.Client,
		endpoints: cc.Informers.Core().V1().Endpoints().Informer(),
		services:  cc.Informers.Core().V1().Services().Informer(),
		slices:    cc.Informers.Discovery().V1().EndpointSlices().Informer(),
		tracker:   reconcile.NewWriteTracker(),
	}
	c.loop = reconcile.NewLoop("endpoint_slice_mirroring", cc.Clock, cc.Logger, c.sync)
	c.loop.WaitFor(c.endpoints.HasSynced, c.services.HasSynced, c.slices.HasSynced)
	enqueue := func(obj any) {
		if key := reconcile.KeyOf(obj); key != "" {
			c.loop.Add(key)
		}
	}
	handlers := cache.ResourceEventHandlerFuncs{AddFunc: enqueue, UpdateFunc: func(_, o any) { enqueue(o) }, DeleteFunc: enqueue}
	if _, err := c.endpoints.AddEventHandler(handlers); err != nil {
		return nil, fmt.Errorf("new endpointslicemirroring controller: %w", err)
	}
	if _, err := c.services.AddEventHandler(handlers); err != nil {
		return nil, fmt.Errorf("new endpointslicemirroring controller: %w", err)
	}
	sliceChanged := func(obj any) {
		s, ok := reconcile.Tombstone(obj).(*discoveryv1.EndpointSlice)
		if ok && s.Labels[discoveryv1.LabelManagedBy] == ControllerName {
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
		return nil, fmt.Errorf("new endpointslicemirroring controller: %w", err)
	}
	return c, nil
}

// Run implements controller.Controller.
func (c *Controller) Run(ctx context.Context, workers int) error {
	return c.loop.Run(ctx, workers)
}

type sliceSpec struct {
	addressType discoveryv1.AddressType
	ports       []discoveryv1.EndpointPort
	endpoints   []discoveryv1.Endpoint
}

func portsKey(t discoveryv1.AddressType, ports []discoveryv1.EndpointPort) string {
	parts := make([]string, len(ports))
	for i, p := range ports {
		var name, proto string
		var port int32
		if p.Name != nil {
			name = *p.Name
		}
		if p.Port != nil {
			port = *p.Port
		}
		if p.Protocol != nil {
			proto = string(*p.Protocol)
		}
		parts[i] = fmt.Sprintf("%s/%d/%s", name, port, proto)
	}
	sort.Strings(parts)
	return string(t) + "|" + strings.Join(parts, ",")
}

func ptr[T any](v T) *T { return &v }

// desiredSlices converts Endpoints subsets into slice contents.
func desiredSlices(ep *corev1.Endpoints) []sliceSpec {
	groups := map[string]*sliceSpec{}
	var order []string
	total := 0
	for _, ss := range ep.Subsets {
		var ports []discoveryv1.EndpointPort
		for _, p := range ss.Ports {
			proto := p.Protocol
			if proto == "" {
				proto = corev1.ProtocolTCP
			}
			ports = append(ports, discoveryv1.EndpointPort{Name: ptr(p.Name), Port: ptr(p.Port), Protocol: ptr(proto), AppProtocol: p.AppProtocol})
		}
		add := func(a corev1.EndpointAddress, ready bool) {
			ip := net.ParseIP(a.IP)
			if ip == nil || total >= maxMirrored {
				return
			}
			t := discoveryv1.AddressTypeIPv6
			if ip.To4() != nil {
				t = discoveryv1.AddressTypeIPv4
			}
			e := discoveryv1.Endpoint{
				Addresses:  []string{a.IP},
				Conditions: discoveryv1.EndpointConditions{Ready: ptr(ready), Serving: ptr(ready), Terminating: ptr(false)},
				NodeName:   a.NodeName,
			}
			if a.Hostname != "" {
				e.Hostname = ptr(a.Hostname)
			}
			if a.TargetRef != nil {
				r := *a.TargetRef
				e.TargetRef = &r
			}
			k := portsKey(t, ports)
			g := groups[k]
			if g == nil {
				g = &sliceSpec{addressType: t, ports: ports}
				groups[k] = g
				order = append(order, k)
			}
			g.endpoints = append(g.endpoints, e)
			total++
		}
		for _, a := range ss.Addresses {
			add(a, true)
		}
		for _, a := range ss.NotReadyAddresses {
			add(a, false)
		}
	}
	sort.Strings(order)
	var out []sliceSpec
	for _, k := range order {
		g := groups[k]
		for start := 0; start < len(g.endpoints); start += maxEndpointsPerSlice {
			end := min(start+maxEndpointsPerSlice, len(g.endpoints))
			out = append(out, sliceSpec{addressType: g.addressType, ports: g.ports, endpoints: g.endpoints[start:end]})
		}
	}
	return out
}

func (c *Controller) sync(ctx context.Context, key string) (reconcile.Result, error) {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return reconcile.Result{}, nil
	}
	existing, err := c.mirrored(ns, name)
	if err != nil {
		return reconcile.Result{}, err
	}
	cached := make(map[string]string, len(existing))
	for _, s := range existing {
		cached[s.Name] = s.ResourceVersion
	}
	if c.tracker.Stale(key, cached) {
		return reconcile.Result{}, errStaleCache
	}
	var desired []sliceSpec
	var ep *corev1.Endpoints
	if c.shouldMirror(key) {
		obj, _, _ := c.endpoints.GetIndexer().GetByKey(key)
		ep = obj.(*corev1.Endpoints)
		desired = desiredSlices(ep)
	}
	return reconcile.Result{}, c.apply(ctx, ns, name, ep, desired, existing)
}

// shouldMirror reports whether the Endpoints named key are mirrored.
func (c *Controller) shouldMirror(key string) bool {
	if key == "default/kubernetes" {
		return false
	}
	obj, ok, _ := c.endpoints.GetIndexer().GetByKey(key)
	if !ok {
		return false
	}
	ep := obj.(*corev1.Endpoints)
	if ep.Labels[skipMirrorLabel] == "true" || ep.DeletionTimestamp != nil {
		return false
	}
	sobj, ok, _ := c.services.GetIndexer().GetByKey(key)
	if !ok {
		return false
	}
	return sobj.(*corev1.Service).Spec.Selector == nil
}

func (c *Controller) mirrored(ns, name string) ([]*discoveryv1.EndpointSlice, error) {
	objs, err := c.slices.GetIndexer().ByIndex(cache.NamespaceIndex, ns)
	if err != nil {
		return nil, err
	}
	var out []*discoveryv1.EndpointSlice
	for _, o := range objs {
		s := o.(*discoveryv1.EndpointSlice)
		if s.Labels[discoveryv1.LabelServiceName] == name && s.Labels[discoveryv1.LabelManagedBy] == ControllerName && s.DeletionTimestamp == nil {
			out = append(out, s)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

func (c *Controller) apply(ctx context.Context, ns, name string, ep *corev1.Endpoints, desired []sliceSpec, existing []*discoveryv1.EndpointSlice) error {
	client := c.client.DiscoveryV1().EndpointSlices(ns)
	key := ns + "/" + name
	free := map[string][]*discoveryv1.EndpointSlice{}
	for _, s := range existing {
		k := portsKey(s.AddressType, s.Ports)
		free[k] = append(free[k], s)
	}
	var errs []error
	var lbls map[string]string
	if ep != nil {
		lbls = maps.Clone(ep.Labels)
		if lbls == nil {
			lbls = map[string]string{}
		}
		delete(lbls, lastAppliedLabel)
		lbls[discoveryv1.LabelServiceName] = name
		lbls[discoveryv1.LabelManagedBy] = ControllerName
	}
	for _, d := range desired {
		k := portsKey(d.addressType, d.ports)
		owner := []metav1.OwnerReference{reconcile.ControllerRef(ep, "v1", "Endpoints")}
		if len(free[k]) > 0 {
			cur := free[k][0]
			free[k] = free[k][1:]
			if apiequality.Semantic.DeepEqual(cur.Endpoints, d.endpoints) && maps.Equal(cur.Labels, lbls) {
				continue
			}
			up := cur.DeepCopy()
			up.Endpoints, up.Labels, up.OwnerReferences = d.endpoints, lbls, owner
			got, err := client.Update(ctx, up, metav1.UpdateOptions{})
			if err != nil && !apierrors.IsNotFound(err) {
				errs = append(errs, fmt.Errorf("update endpoint slice %s: %w", cur.Name, err))
			} else if err == nil {
				c.tracker.Record(key, got.Name, got.ResourceVersion)
			}
			continue
		}
		s := &discoveryv1.EndpointSlice{
			ObjectMeta:  metav1.ObjectMeta{GenerateName: name + "-", Namespace: ns, Labels: lbls, OwnerReferences: owner},
			AddressType: d.addressType,
			Endpoints:   d.endpoints,
			Ports:       d.ports,
		}
		got, err := client.Create(ctx, s, metav1.CreateOptions{})
		if err != nil && !reconcile.NamespaceTerminating(err) {
			errs = append(errs, fmt.Errorf("create endpoint slice for %s/%s: %w", ns, name, err))
		} else if err == nil {
			c.tracker.Record(key, got.Name, got.ResourceVersion)
		}
	}
	for _, rest := range free {
		for _, s := range rest {
			if err := client.Delete(ctx, s.Name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
				errs = append(errs, fmt.Errorf("delete endpoint slice %s: %w", s.Name, err))
			} else {
				c.tracker.Record(key, s.Name, "")
			}
		}
	}
	return errors.Join(errs...)
}
