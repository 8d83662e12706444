package serviceaccount

import (
	"context"
	"errors"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"

	"skiff/internal/controller"
	"skiff/internal/controller/reconcile"
)

// DefaultName is the ServiceAccount every namespace gets.
const DefaultName = "default"

// RootCAName and RootCAKey name the ConfigMap holding the cluster CA.
const (
	RootCAName = "kube-root-ca.crt"
	RootCAKey  = "ca.crt"
)

// descriptionAnnotation explains the ConfigMap to whoever finds it.
const descriptionAnnotation = "kubernetes.io/description"

// ensurer is one namespace-scoped object kept present by a Controller.
type ensurer struct {
	name   string
	inf    cache.SharedIndexInformer
	ensure func(ctx context.Context, ns string, cur any) error
}

// Controller keeps one object present in every active namespace.
type Controller struct {
	client     kubernetes.Interface
	namespaces cache.SharedIndexInformer
	loop       *reconcile.Loop
	e          ensurer
}

var _ controller.Controller = (*Controller)(nil)

func newController(cc controller.Context, e ensurer) (*Controller, error) {
	c := &Controller{
		client:     cc.Client,
		namespaces: cc.Informers.Core().V1().Namespaces().Informer(),
		e:          e,
	}
	c.loop = reconcile.NewLoop(e.name, cc.Clock, cc.Logger, c.sync)
	c.loop.WaitFor(c.namespaces.HasSynced, e.inf.HasSynced)
	byName := func(obj any) {
		if m, err := metaOf(obj); err == nil {
			c.loop.Add(m.GetName())
		}
	}
	if _, err := c.namespaces.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: byName, UpdateFunc: func(_, o any) { byName(o) },
	}); err != nil {
		return nil, fmt.Errorf("new %s controller: %w", e.name, err)
	}
	byNamespace := func(obj any) {
		if m, err := metaOf(obj); err == nil {
			c.loop.Add(m.GetNamespace())
		}
	}
	if _, err := e.inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		UpdateFunc: func(_, o any) { byNamespace(o) }, DeleteFunc: byNamespace,
	}); err != nil {
		return nil, fmt.Errorf("new %s controller: %w", e.name, err)
	}
	return c, nil
}

func metaOf(obj any) (metav1.Object, error) {
	m, ok := reconcile.Tombstone(obj).(metav1.Object)
	if !ok {
		return nil, errors.New("not an object")
	}
	return m, nil
}

// Run implements controller.Controller.
func (c *Controller) Run(ctx context.Context, workers int) error {
	return c.loop.Run(ctx, workers)
}

func (c *Controller) sync(ctx context.Context, ns string) (reconcile.Result, error) {
	obj, ok, err := c.namespaces.GetIndexer().GetByKey(ns)
	if err != nil || !ok {
		return reconcile.Result{}, err
	}
	n := obj.(*corev1.Namespace)
	if n.DeletionTimestamp != nil || n.Status.Phase == corev1.NamespaceTerminating {
		return reconcile.Result{}, nil
	}
	cur, _, err := c.e.inf.GetIndexer().GetByKey(ns + "/" + c.e.name)
	if err != nil {
		return reconcile.Result{}, err
	}
	err = c.e.ensure(ctx, ns, cur)
	if apierrors.IsAlreadyExists(err) || reconcile.NamespaceTerminating(err) || apierrors.IsForbidden(err) && n.DeletionTimestamp != nil {
		return reconcile.Result{}, nil
	}
	return reconcile.Result{}, err
}

// NewServiceAccounts is the Constructor of the "serviceaccount" controller.
func NewServiceAccounts(cc controller.Context) (controller.Controller, error) {
	return newController(cc, ensurer{
		name: DefaultName,
		inf:  cc.Informers.Core().V1().ServiceAccounts().Informer(),
		ensure: func(ctx context.Context, ns string, cur any) error {
			if cur != nil {
				return nil
			}
			sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: DefaultName, Namespace: ns}}
			if _, err := cc.Client.CoreV1().ServiceAccounts(ns).Create(ctx, sa, metav1.CreateOptions{}); err != nil {
				return fmt.Errorf("create service account %s/%s: %w", ns, DefaultName, err)
			}
			return nil
		},
	})
}

// RootCAConfig configures the root CA publisher.
type RootCAConfig struct {
	// CAPEM is the cluster CA certificate bundle, PEM encoded; required.
	CAPEM []byte
}

// NewRootCAPublisher returns the Constructor of the
// "root-ca-cert-publisher" controller publishing cfg.CAPEM.
func NewRootCAPublisher(cfg RootCAConfig) (controller.Constructor, error) {
	if len(cfg.CAPEM) == 0 {
		return nil, errors.New("new root CA publisher: CAPEM is required")
	}
	data := string(cfg.CAPEM)
	return func(cc controller.Context) (controller.Controller, error) {
		return newController(cc, ensurer{
			name: RootCAName,
			inf:  cc.Informers.Core().V1().ConfigMaps().Informer(),
			ensure: func(ctx context.Context, ns string, cur any) error {
				want := map[string]string{RootCAKey: data}
				if cur == nil {
					cm := &corev1.ConfigMap{
						ObjectMeta: metav1.ObjectMeta{Name: RootCAName, Namespace: ns, Annotations: map[string]string{
							descriptionAnnotation: "The cluster CA bundle, to verify the API server at its in-cluster addresses (kubernetes.default.svc).",
						}},
						Data: want,
					}
					if _, err := cc.Client.CoreV1().ConfigMaps(ns).Create(ctx, cm, metav1.CreateOptions{}); err != nil {
						return fmt.Errorf("create config map %s/%s: %w", ns, RootCAName, err)
					}
					return nil
				}
				cm := cur.(*corev1.ConfigMap)
				if len(cm.Data) == 1 && cm.Data[RootCAKey] == data && len(cm.BinaryData) == 0 {
					return nil
				}
				cm = cm.DeepCopy()
				cm.Data, cm.BinaryData = want, nil
				if _, err := cc.Client.CoreV1().ConfigMaps(ns).Update(ctx, cm, metav1.UpdateOptions{}); err != nil {
					return fmt.Errorf("update config map %s/%s: %w", ns, RootCAName, err)
				}
				return nil
			},
		})
	}, nil
}
