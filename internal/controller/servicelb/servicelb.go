package servicelb

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/events"

	"skiff/internal/controller"
	"skiff/internal/controller/reconcile"
	"skiff/internal/lbnodes"
)

// Controller publishes node addresses as the ingress of LoadBalancer
// Services.
type Controller struct {
	client   kubernetes.Interface
	services corelisters.ServiceLister
	nodes    corelisters.NodeLister
	events   events.EventRecorder
	loop     *reconcile.Loop
	logger   *slog.Logger
}

var _ controller.Controller = (*Controller)(nil)

// New is the controller.Constructor.
func New(cc controller.Context) (controller.Controller, error) {
	svcInf := cc.Informers.Core().V1().Services()
	nodeInf := cc.Informers.Core().V1().Nodes()
	c := &Controller{client: cc.Client, services: svcInf.Lister(), nodes: nodeInf.Lister(),
		events: cc.Events, logger: cc.Logger}
	c.loop = reconcile.NewLoop("servicelb", cc.Clock, cc.Logger, c.sync)
	if _, err := svcInf.Informer().AddEventHandler(reconcile.Handler(c.loop.Enqueue)); err != nil {
		return nil, fmt.Errorf("servicelb: add service handler: %w", err)
	}
	if _, err := nodeInf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: func(any) { c.enqueueLoadBalancers() },
		UpdateFunc: func(old, cur any) {
			if lbnodes.Changed(old.(*corev1.Node), cur.(*corev1.Node)) {
				c.enqueueLoadBalancers()
			}
		},
		DeleteFunc: func(any) { c.enqueueLoadBalancers() },
	}); err != nil {
		return nil, fmt.Errorf("servicelb: add node handler: %w", err)
	}
	c.loop.WaitFor(svcInf.Informer().HasSynced, nodeInf.Informer().HasSynced)
	return c, nil
}

// Run runs workers until ctx is done.
func (c *Controller) Run(ctx context.Context, workers int) error { return c.loop.Run(ctx, workers) }

// enqueueLoadBalancers queues every Service whose ingress follows the
// nodes.
func (c *Controller) enqueueLoadBalancers() {
	svcs, err := c.services.List(labels.Everything())
	if err != nil {
		return
	}
	for _, s := range svcs {
		if WantsLoadBalancer(s) {
			c.loop.Enqueue(s)
		}
	}
}

func (c *Controller) sync(ctx context.Context, key string) (reconcile.Result, error) {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return reconcile.Result{}, nil
	}
	svc, err := c.services.Services(ns).Get(name)
	if apierrors.IsNotFound(err) {
		return reconcile.Result{}, nil
	}
	if err != nil {
		return reconcile.Result{}, err
	}
	if !Manages(svc) {
		return reconcile.Result{}, nil
	}
	nodes, err := c.nodes.List(labels.Everything())
	if err != nil {
		return reconcile.Result{}, err
	}
	want := Desired(svc, nodes)
	if Equal(want, svc.Status.LoadBalancer.Ingress) {
		return reconcile.Result{}, nil
	}
	if !WantsLoadBalancer(svc) {
		if err := c.writeIngress(ctx, svc, nil); err != nil {
			return reconcile.Result{}, err
		}
		c.events.Eventf(svc, nil, corev1.EventTypeNormal, "DeletedLoadBalancer", "Delete", "Deleted load balancer")
		return reconcile.Result{}, nil
	}
	c.events.Eventf(svc, nil, corev1.EventTypeNormal, "EnsuringLoadBalancer", "Ensure", "Ensuring load balancer")
	if len(want) == 0 {
		c.events.Eventf(svc, nil, corev1.EventTypeWarning, "UnAvailableLoadBalancer", "Ensure",
			"There are no available nodes for LoadBalancer")
	}
	if err := c.writeIngress(ctx, svc, want); err != nil {
		if apierrors.IsConflict(err) {
			return reconcile.Result{}, err // a newer Service is on its way; sync it again
		}
		c.events.Eventf(svc, nil, corev1.EventTypeWarning, "SyncLoadBalancerFailed", "Ensure",
			"Error syncing load balancer: %v", err)
		return reconcile.Result{}, err
	}
	c.events.Eventf(svc, nil, corev1.EventTypeNormal, "EnsuredLoadBalancer", "Ensure", "Ensured load balancer")
	return reconcile.Result{}, nil
}

// writeIngress replaces svc's status.loadBalancer.ingress through the
// status subresource. The patch carries the cached resourceVersion, so a
// Service changed meanwhile fails with a conflict and is synced again.
func (c *Controller) writeIngress(ctx context.Context, svc *corev1.Service, ingress []corev1.LoadBalancerIngress) error {
	patch, err := json.Marshal(map[string]any{
		"metadata": map[string]any{"resourceVersion": svc.ResourceVersion},
		"status":   map[string]any{"loadBalancer": map[string]any{"ingress": ingress}},
	})
	if err != nil {
		return err
	}
	_, err = c.client.CoreV1().Services(svc.Namespace).Patch(ctx, svc.Name, types.MergePatchType, patch,
		metav1.PatchOptions{}, "status")
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("update load balancer status of service %s/%s: %w", svc.Namespace, svc.Name, err)
	}
	return nil
}
