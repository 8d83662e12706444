package ingressstatus

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
	networkinglisters "k8s.io/client-go/listers/networking/v1"
	"k8s.io/client-go/tools/cache"

	"skiff/internal/controller"
	"skiff/internal/controller/reconcile"
	"skiff/internal/ingress"
	"skiff/internal/lbnodes"
)

// Controller publishes node addresses as the status of the Ingresses
// skiff's ingress controller serves.
type Controller struct {
	client    kubernetes.Interface
	ingresses networkinglisters.IngressLister
	classes   networkinglisters.IngressClassLister
	nodes     corelisters.NodeLister
	loop      *reconcile.Loop
	logger    *slog.Logger
}

var _ controller.Controller = (*Controller)(nil)

// New is the controller.Constructor.
func New(cc controller.Context) (controller.Controller, error) {
	ingInf := cc.Informers.Networking().V1().Ingresses()
	classInf := cc.Informers.Networking().V1().IngressClasses()
	nodeInf := cc.Informers.Core().V1().Nodes()
	c := &Controller{client: cc.Client, ingresses: ingInf.Lister(), classes: classInf.Lister(), nodes: nodeInf.Lister(),
		logger: cc.Logger}
	c.loop = reconcile.NewLoop("ingressstatus", cc.Clock, cc.Logger, c.sync)
	if _, err := ingInf.Informer().AddEventHandler(reconcile.Handler(c.loop.Enqueue)); err != nil {
		return nil, fmt.Errorf("ingressstatus: add ingress handler: %w", err)
	}
	all := func(any) { c.enqueueAll() }
	if _, err := classInf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: all, UpdateFunc: func(_, cur any) { all(cur) }, DeleteFunc: all,
	}); err != nil {
		return nil, fmt.Errorf("ingressstatus: add class handler: %w", err)
	}
	if _, err := nodeInf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: all,
		UpdateFunc: func(old, cur any) {
			if lbnodes.Changed(old.(*corev1.Node), cur.(*corev1.Node)) {
				c.enqueueAll()
			}
		},
		DeleteFunc: all,
	}); err != nil {
		return nil, fmt.Errorf("ingressstatus: add node handler: %w", err)
	}
	c.loop.WaitFor(ingInf.Informer().HasSynced, classInf.Informer().HasSynced, nodeInf.Informer().HasSynced)
	return c, nil
}

// Run runs workers until ctx is done.
func (c *Controller) Run(ctx context.Context, workers int) error { return c.loop.Run(ctx, workers) }

func (c *Controller) enqueueAll() {
	ings, err := c.ingresses.List(labels.Everything())
	if err != nil {
		return
	}
	for _, i := range ings {
		c.loop.Enqueue(i)
	}
}

func (c *Controller) sync(ctx context.Context, key string) (reconcile.Result, error) {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return reconcile.Result{}, nil
	}
	ing, err := c.ingresses.Ingresses(ns).Get(name)
	if apierrors.IsNotFound(err) {
		return reconcile.Result{}, nil
	}
	if err != nil {
		return reconcile.Result{}, err
	}
	classes, err := c.classes.List(labels.Everything())
	if err != nil {
		return reconcile.Result{}, err
	}
	if !ingress.SelectClasses(ingress.ControllerName, classes).Serves(ing) {
		return reconcile.Result{}, nil
	}
	nodes, err := c.nodes.List(labels.Everything())
	if err != nil {
		return reconcile.Result{}, err
	}
	want := Desired(nodes)
	if Equal(want, ing.Status.LoadBalancer.Ingress) {
		return reconcile.Result{}, nil
	}
	// The patch carries the cached resourceVersion: an Ingress changed
	// meanwhile fails with a conflict and is synced again.
	patch, err := json.Marshal(map[string]any{
		"metadata": map[string]any{"resourceVersion": ing.ResourceVersion},
		"status":   map[string]any{"loadBalancer": map[string]any{"ingress": want}},
	})
	if err != nil {
		return reconcile.Result{}, err
	}
	_, err = c.client.NetworkingV1().Ingresses(ns).Patch(ctx, name, types.MergePatchType, patch, metav1.PatchOptions{}, "status")
	if apierrors.IsNotFound(err) {
		return reconcile.Result{}, nil
	}
	if err != nil {
		return reconcile.Result{}, fmt.Errorf("update status of ingress %s: %w", key, err)
	}
	return reconcile.Result{}, nil
}
