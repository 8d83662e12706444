package dns

import (
	"context"
	"time"

	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
)

// Follow keeps srv's table in step with the cluster's Services and
// EndpointSlices until ctx is done: every change rebuilds the table, at
// most every 50 ms, so answers follow changes well within a second.
func Follow(ctx context.Context, client kubernetes.Interface, srv *Server) error {
	f := informers.NewSharedInformerFactory(client, 0)
	svcs := f.Core().V1().Services()
	slices := f.Discovery().V1().EndpointSlices()
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
	if _, err := svcs.Informer().AddEventHandler(h); err != nil {
		return err
	}
	if _, err := slices.Informer().AddEventHandler(h); err != nil {
		return err
	}
	f.Start(ctx.Done())
	defer f.Shutdown()
	f.WaitForCacheSync(ctx.Done())
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-changed:
		}
		sl, _ := svcs.Lister().List(labels.Everything())
		el, _ := slices.Lister().List(labels.Everything())
		srv.SetTable(Build(srv.cfg.Domain, sl, el))
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(50 * time.Millisecond):
		}
	}
}
