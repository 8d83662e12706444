package endpoints

import (
	"context"
	"fmt"
	"maps"

	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"

	"skiff/internal/controller"
	"skiff/internal/controller/reconcile"
)

// Controller maintains Endpoints from Services and pods.
type Controller struct {
	client    kubernetes.Interface
	services  cache.SharedIndexInformer
	pods      cache.SharedIndexInformer
	endpoints cache.SharedIndexInformer
	loop      *reconcile.Loop
}

var _ controller.Controller = (*Controller)(nil)

// New is the Constructor of the endpoints controller.
func New(cc controller.Context) (controller.Controller, error) {
	c := &Controller{
		client:    cc.Client,
		services:  cc.Informers.Core().V1().Services().Informer(),
		pods:      cc.Informers.Core().V1().Pods().Informer(),
		endpoints: cc.Informers.Core().V1().Endpoints().Informer(),
	}
	c.loop = reconcile.NewLoop("endpoint", cc.Clock, cc.Logger, c.sync)
	c.loop.WaitFor(c.services.HasSynced, c.pods.HasSynced, c.endpoints.HasSynced)
	// A Service's sync reads its own pods through the label index, not
	// every pod of its namespace.
	if err := reconcile.AddLabelIndex(c.pods); err != nil {
		return nil, fmt.Errorf("new endpoints controller: %w", err)
	}
	enqueue := func(obj any) {
		if key := reconcile.KeyOf(obj); key != "" {
			c.loop.Add(key)
		}
	}
	if _, err := c.services.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: enqueue, UpdateFunc: func(_, o any) { enqueue(o) }, DeleteFunc: enqueue,
	}); err != nil {
		return nil, fmt.Errorf("new endpoints controller: %w", err)
	}
	// As upstream, only a deleted Endpoints is put back: an Endpoints
	// changed by hand, or one with no Service (user-managed), is left alone.
	if _, err := c.endpoints.AddEventHandler(cache.ResourceEventHandlerFuncs{
		DeleteFunc: enqueue,
	}); err != nil {
		return nil, fmt.Errorf("new endpoints controller: %w", err)
	}
	if _, err := c.pods.AddEventHandler(reconcile.ServicePodHandler(c.services.GetIndexer(), c.loop)); err != nil {
		return nil, fmt.Errorf("new endpoints controller: %w", err)
	}
	return c, nil
}

// Run implements controller.Controller.
func (c *Controller) Run(ctx context.Context, workers int) error {
	return c.loop.Run(ctx, workers)
}

func (c *Controller) sync(ctx context.Context, key string) (reconcile.Result, error) {
	if key == "default/kubernetes" {
		return reconcile.Result{}, nil
	}
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return reconcile.Result{}, nil
	}
	obj, ok, err := c.services.GetIndexer().GetByKey(key)
	if err != nil {
		return reconcile.Result{}, err
	}
	if !ok {
		// The Service is gone; so are its Endpoints.
		if _, exists, _ := c.endpoints.GetIndexer().GetByKey(key); !exists {
			return reconcile.Result{}, nil
		}
		err := c.client.CoreV1().Endpoints(ns).Delete(ctx, name, metav1.DeleteOptions{})
		if err != nil && !apierrors.IsNotFound(err) {
			return reconcile.Result{}, fmt.Errorf("delete endpoints %s: %w", key, err)
		}
		return reconcile.Result{}, nil
	}
	svc := obj.(*corev1.Service)
	if svc.Spec.Selector == nil || svc.Spec.Type == corev1.ServiceTypeExternalName {
		return reconcile.Result{}, nil
	}
	pods, err := reconcile.PodsSelectedBy(c.pods.GetIndexer(), ns, svc.Spec.Selector)
	if err != nil {
		return reconcile.Result{}, err
	}
	subsets := desiredSubsets(svc, pods)
	lbls := maps.Clone(svc.Labels)
	if lbls == nil {
		lbls = map[string]string{}
	}
	if svc.Spec.ClusterIP == corev1.ClusterIPNone {
		lbls[headlessLabel] = ""
	} else {
		delete(lbls, headlessLabel)
	}
	cur, exists, err := c.endpoints.GetIndexer().GetByKey(key)
	if err != nil {
		return reconcile.Result{}, err
	}
	if !exists {
		ep := &corev1.Endpoints{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: lbls}, Subsets: subsets}
		_, err := c.client.CoreV1().Endpoints(ns).Create(ctx, ep, metav1.CreateOptions{})
		if err != nil && !apierrors.IsAlreadyExists(err) && !reconcile.NamespaceTerminating(err) {
			return reconcile.Result{}, fmt.Errorf("create endpoints %s: %w", key, err)
		}
		return reconcile.Result{}, nil
	}
	ep := cur.(*corev1.Endpoints)
	if apiequality.Semantic.DeepEqual(normalize(ep.Subsets), normalize(subsets)) && maps.Equal(ep.Labels, lbls) {
		return reconcile.Result{}, nil
	}
	ep = ep.DeepCopy()
	ep.Subsets, ep.Labels = subsets, lbls
	if _, err := c.client.CoreV1().Endpoints(ns).Update(ctx, ep, metav1.UpdateOptions{}); err != nil && !apierrors.IsNotFound(err) {
		return reconcile.Result{}, fmt.Errorf("update endpoints %s: %w", key, err)
	}
	return reconcile.Result{}, nil
}

// normalize makes empty and nil compare equal.
func normalize(s []corev1.EndpointSubset) []corev1.EndpointSubset {
	if len(s) == 0 {
		return nil
	}
	out := make([]corev1.EndpointSubset, len(s))
	for i, x := range s {
		if len(x.Addresses) == 0 {
			x.Addresses = nil
		}
		if len(x.NotReadyAddresses) == 0 {
			x.NotReadyAddresses = nil
		}
		if len(x.Ports) == 0 {
			x.Ports = nil
		}
		out[i] = x
	}
	return out
}
