package nodeipam

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/events"

	"skiff/internal/controller"
	"skiff/internal/controller/reconcile"
)

// Config sets the address plan; zero values take skiff's defaults.
type Config struct {
	// ClusterCIDR is the pod network (10.42.0.0/16).
	ClusterCIDR string
	// NodeMaskSize is the prefix length of each node's subnet (24; 64 for
	// an IPv6 cluster CIDR).
	NodeMaskSize int
}

// Controller allocates pod CIDRs to nodes.
type Controller struct {
	cfg    Config
	client kubernetes.Interface
	nodes  corelisters.NodeLister
	events events.EventRecorder
	loop   *reconcile.Loop
	logger *slog.Logger

	mu       sync.Mutex
	inFlight map[string]string // node -> subnet written but maybe not yet seen
}

var _ controller.Controller = (*Controller)(nil)

// New is the controller.Constructor with the default configuration.
func New(cc controller.Context) (controller.Controller, error) { return NewWithConfig(Config{})(cc) }

// NewWithConfig returns a controller.Constructor for cfg.
func NewWithConfig(cfg Config) controller.Constructor {
	return func(cc controller.Context) (controller.Controller, error) {
		if cfg.ClusterCIDR == "" {
			cfg.ClusterCIDR = "10.42.0.0/16"
		}
		if cfg.NodeMaskSize == 0 {
			cfg.NodeMaskSize = 24
			if a, err := newAllocator(cfg.ClusterCIDR, 64); err == nil && a.cluster.Addr().Is6() {
				cfg.NodeMaskSize = 64
			}
		}
		if _, err := newAllocator(cfg.ClusterCIDR, cfg.NodeMaskSize); err != nil {
			return nil, fmt.Errorf("node ipam: %w", err)
		}
		nodeInf := cc.Informers.Core().V1().Nodes()
		c := &Controller{cfg: cfg, client: cc.Client, nodes: nodeInf.Lister(), events: cc.Events,
			logger: cc.Logger, inFlight: map[string]string{}}
		c.loop = reconcile.NewLoop("nodeipam", cc.Clock, cc.Logger, c.sync)
		if _, err := nodeInf.Informer().AddEventHandler(reconcile.Handler(c.loop.Enqueue)); err != nil {
			return nil, fmt.Errorf("node ipam: add handler: %w", err)
		}
		c.loop.WaitFor(nodeInf.Informer().HasSynced)
		return c, nil
	}
}

// Run runs workers until ctx is done.
func (c *Controller) Run(ctx context.Context, workers int) error { return c.loop.Run(ctx, workers) }

func (c *Controller) sync(ctx context.Context, name string) (reconcile.Result, error) {
	node, err := c.nodes.Get(name)
	if apierrors.IsNotFound(err) {
		c.mu.Lock()
		delete(c.inFlight, name)
		c.mu.Unlock()
		return reconcile.Result{}, nil
	}
	if err != nil {
		return reconcile.Result{}, err
	}
	if node.Spec.PodCIDR != "" {
		c.mu.Lock()
		delete(c.inFlight, name)
		c.mu.Unlock()
		return reconcile.Result{}, nil
	}
	cidr, err := c.allocate(name)
	if errors.Is(err, ErrFull) {
		c.events.Eventf(node, nil, corev1.EventTypeNormal, "CIDRNotAvailable", "Allocate",
			"Node %s status is now: CIDRNotAvailable", name)
		return reconcile.Result{}, fmt.Errorf("allocate pod CIDR for node %s: %w", name, err)
	}
	if err != nil {
		return reconcile.Result{}, err
	}
	patch, _ := json.Marshal(map[string]any{"spec": map[string]any{"podCIDR": cidr, "podCIDRs": []string{cidr}}})
	_, err = c.client.CoreV1().Nodes().Patch(ctx, name, types.StrategicMergePatchType, patch, metav1.PatchOptions{})
	if err != nil {
		c.mu.Lock()
		delete(c.inFlight, name)
		c.mu.Unlock()
		if apierrors.IsNotFound(err) {
			return reconcile.Result{}, nil
		}
		c.events.Eventf(node, nil, corev1.EventTypeWarning, "CIDRAssignmentFailed", "Allocate",
			"Node %s status is now: CIDRAssignmentFailed", name)
		return reconcile.Result{}, fmt.Errorf("set pod CIDR of node %s: %w", name, err)
	}
	return reconcile.Result{}, nil
}

// allocate picks the next free subnet under the lock, counting subnets
// handed out whose node update the cache has not shown yet.
func (c *Controller) allocate(node string) (string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if s, ok := c.inFlight[node]; ok {
		return s, nil
	}
	a, _ := newAllocator(c.cfg.ClusterCIDR, c.cfg.NodeMaskSize)
	nodes, err := c.nodes.List(labels.Everything())
	if err != nil {
		return "", err
	}
	for _, n := range nodes {
		for _, s := range n.Spec.PodCIDRs {
			a.occupy(s)
		}
		a.occupy(n.Spec.PodCIDR)
	}
	for _, s := range c.inFlight {
		a.occupy(s)
	}
	p, err := a.next()
	if err != nil {
		return "", err
	}
	c.inFlight[node] = p.String()
	return p.String(), nil
}
