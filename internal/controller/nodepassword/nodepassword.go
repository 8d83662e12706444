// Package nodepassword frees a node's name when its Node is deleted: a
// node that joins binds its name to its password (the hash is kept in the
// Secret kube-system/<node>.node-password.skiff), and this controller
// deletes that Secret with the Node, so that a new host may then join
// under the name. At start it also removes the Secrets of Nodes deleted
// while it was not running, once they are old enough that their node is
// not just joining.
package nodepassword

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/utils/clock"

	"skiff/internal/controller"
	"skiff/internal/controller/reconcile"
)

// The node password Secrets.
const (
	// SecretSuffix ends their names: <node>.node-password.skiff.
	SecretSuffix = ".node-password.skiff"
	// SecretType is their type.
	SecretType corev1.SecretType = "skiff.io/node-password"
	// NodeLabel names their node.
	NodeLabel = "skiff.io/node"
)

// SecretName is the name of the password Secret of node.
func SecretName(node string) string { return node + SecretSuffix }

// joinGrace is how old a password Secret without its Node must be before
// the start-up sweep removes it: a node registers its Node within seconds
// of joining.
const joinGrace = 10 * time.Minute

// Controller deletes the password Secrets of deleted Nodes.
type Controller struct {
	client kubernetes.Interface
	nodes  corelisters.NodeLister
	synced cache.InformerSynced
	clock  clock.PassiveClock
	loop   *reconcile.Loop
	logger *slog.Logger
}

var _ controller.Controller = (*Controller)(nil)

// New is the controller.Constructor.
func New(cc controller.Context) (controller.Controller, error) {
	inf := cc.Informers.Core().V1().Nodes()
	c := &Controller{client: cc.Client, nodes: inf.Lister(), synced: inf.Informer().HasSynced, clock: cc.Clock, logger: cc.Logger}
	c.loop = reconcile.NewLoop("node-password", cc.Clock, cc.Logger, c.sync)
	if _, err := inf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		DeleteFunc: func(o any) { c.loop.Enqueue(o) },
	}); err != nil {
		return nil, fmt.Errorf("node-password: add handler: %w", err)
	}
	c.loop.WaitFor(inf.Informer().HasSynced)
	return c, nil
}

// Run sweeps once, then runs workers until ctx is done.
func (c *Controller) Run(ctx context.Context, workers int) error {
	go func() {
		if !cache.WaitForCacheSync(ctx.Done(), c.synced) {
			return
		}
		if err := c.sweep(ctx); err != nil && ctx.Err() == nil {
			c.logger.Warn("node-password: start-up sweep", "err", err)
		}
	}()
	return c.loop.Run(ctx, workers)
}

// sync deletes the password Secret of a Node that is gone.
func (c *Controller) sync(ctx context.Context, key string) (reconcile.Result, error) {
	if _, err := c.nodes.Get(key); err == nil {
		return reconcile.Result{}, nil
	} else if !apierrors.IsNotFound(err) {
		return reconcile.Result{}, err
	}
	return reconcile.Result{}, c.remove(ctx, key, nil)
}

// remove deletes node's password Secret, with uid as a precondition when
// given.
func (c *Controller) remove(ctx context.Context, node string, uid *string) error {
	opts := metav1.DeleteOptions{}
	if uid != nil {
		u := types.UID(*uid)
		opts.Preconditions = &metav1.Preconditions{UID: &u}
	}
	err := c.client.CoreV1().Secrets(metav1.NamespaceSystem).Delete(ctx, SecretName(node), opts)
	if apierrors.IsNotFound(err) || apierrors.IsConflict(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("delete the node password of %s: %w", node, err)
	}
	c.logger.Info("node deleted: its name is free to join again", "node", node)
	return nil
}

// sweep removes password Secrets whose Node is gone, if old enough.
func (c *Controller) sweep(ctx context.Context) error {
	list, err := c.client.CoreV1().Secrets(metav1.NamespaceSystem).List(ctx, metav1.ListOptions{
		FieldSelector: "type=" + string(SecretType)})
	if err != nil {
		return err
	}
	for i := range list.Items {
		s := &list.Items[i]
		node, ok := strings.CutSuffix(s.Name, SecretSuffix)
		if !ok || c.clock.Since(s.CreationTimestamp.Time) < joinGrace {
			continue
		}
		if _, err := c.nodes.Get(node); !apierrors.IsNotFound(err) {
			continue
		}
		uid := string(s.UID)
		if err := c.remove(ctx, node, &uid); err != nil {
			return err
		}
	}
	return nil
}
