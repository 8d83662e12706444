package dns

import (
	"context"
	"net/netip"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"

	"skiff/internal/cachetrim"
)

// Follow keeps srv's table in step with the cluster's Services and
// EndpointSlices until ctx is done: every change rebuilds the table, at
// most every 50 ms, so answers follow changes well within a second. It also
// keeps the sources srv recurses for in step with the Nodes: their
// addresses and pod CIDRs.
func Follow(ctx context.Context, client kubernetes.Interface, srv *Server) error {
	f := informers.NewSharedInformerFactoryWithOptions(client, 0, informers.WithTransform(cachetrim.ManagedFields))
	svcs := f.Core().V1().Services()
	slices := f.Discovery().V1().EndpointSlices()
	nodes := f.Core().V1().Nodes()
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
	if _, err := nodes.Informer().AddEventHandler(h); err != nil {
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
		nl, _ := nodes.Lister().List(labels.Everything())
		srv.SetRecursionSources(NodeSources(nl))
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// NodeSources are the sources a cluster's DNS recurses for: every node's
// addresses and pod CIDRs.
func NodeSources(nodes []*corev1.Node) []netip.Prefix {
	var out []netip.Prefix
	for _, n := range nodes {
		for _, a := range n.Status.Addresses {
			if a.Type != corev1.NodeInternalIP && a.Type != corev1.NodeExternalIP {
				continue
			}
			if ip, err := netip.ParseAddr(a.Address); err == nil {
				out = append(out, netip.PrefixFrom(ip.Unmap(), ip.Unmap().BitLen()))
			}
		}
		cidrs := n.Spec.PodCIDRs
		if len(cidrs) == 0 && n.Spec.PodCIDR != "" {
			cidrs = []string{n.Spec.PodCIDR}
		}
		for _, c := range cidrs {
			if p, err := netip.ParsePrefix(c); err == nil {
				out = append(out, p.Masked())
			}
		}
	}
	return out
}
