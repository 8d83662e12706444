package ingress

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
)

// MinSyncInterval bounds how often Follow rebuilds the table when
// objects change in bursts.
const MinSyncInterval = 100 * time.Millisecond

// Follow keeps srv's table built from the cluster's objects, as client
// sees them, until ctx is done: every change to an Ingress,
// IngressClass, Service, EndpointSlice or TLS Secret rebuilds the table
// (at most once per MinSyncInterval) and swaps it in. controller is the
// IngressClass controller served ("" for ControllerName).
func Follow(ctx context.Context, client kubernetes.Interface, srv *Server, controller string) error {
	f := informers.NewSharedInformerFactory(client, 0)
	// Only TLS Secrets: the ingress has no business with the others.
	secretsF := informers.NewSharedInformerFactoryWithOptions(client, 0, informers.WithTweakListOptions(func(o *metav1.ListOptions) {
		o.FieldSelector = fields.OneTermEqualSelector("type", string(corev1.SecretTypeTLS)).String()
	}))
	ings := f.Networking().V1().Ingresses()
	classes := f.Networking().V1().IngressClasses()
	svcs := f.Core().V1().Services()
	eps := f.Discovery().V1().EndpointSlices()
	secrets := secretsF.Core().V1().Secrets()
	changed := make(chan struct{}, 1)
	poke := func() {
		select {
		case changed <- struct{}{}:
		default:
		}
	}
	h := cache.ResourceEventHandlerFuncs{
		AddFunc: func(any) { poke() }, UpdateFunc: func(any, any) { poke() }, DeleteFunc: func(any) { poke() },
	}
	for _, inf := range []cache.SharedIndexInformer{ings.Informer(), classes.Informer(), svcs.Informer(), eps.Informer(), secrets.Informer()} {
		if _, err := inf.AddEventHandler(h); err != nil {
			return fmt.Errorf("ingress: add handler: %w", err)
		}
	}
	f.Start(ctx.Done())
	secretsF.Start(ctx.Done())
	defer f.Shutdown()
	defer secretsF.Shutdown()
	f.WaitForCacheSync(ctx.Done())
	secretsF.WaitForCacheSync(ctx.Done())
	certs := NewCertCache()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-changed:
		}
		st := State{Controller: controller, Certs: certs}
		st.Ingresses, _ = ings.Lister().List(labels.Everything())
		st.Classes, _ = classes.Lister().List(labels.Everything())
		st.Services, _ = svcs.Lister().List(labels.Everything())
		st.EndpointSlices, _ = eps.Lister().List(labels.Everything())
		st.Secrets, _ = secrets.Lister().List(labels.Everything())
		srv.SetTable(Build(st))
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(MinSyncInterval):
		}
	}
}
