package node

import (
	"context"
	"fmt"
	"net/netip"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"skiff/internal/network"
	"skiff/internal/proxy"
	proxynft "skiff/internal/proxy/nftables"
)

// clusterCIDR is the pod network of the whole cluster. It is fixed until
// the multi-node work brings its --cluster-cidr flag.
var clusterCIDR = netip.MustParsePrefix("10.42.0.0/16")

// proxyComponent runs the service proxy for this node: it programs the
// nftables table "skiff" from Services and EndpointSlices, and the routes
// to the other nodes' pod networks.
func proxyComponent(cfg Config) component {
	name := cfg.NodeName
	return component{name: "proxy", user: ProxyUser, run: func(ctx context.Context, rc *rest.Config) error {
		serviceCIDR, err := netip.ParsePrefix(cfg.ServiceCIDR)
		if err != nil {
			return fmt.Errorf("proxy: service CIDR: %w", err)
		}
		client, err := kubernetes.NewForConfig(rc)
		if err != nil {
			return fmt.Errorf("proxy client: %w", err)
		}
		applier, err := proxynft.New(proxynft.Config{})
		if err != nil {
			return err
		}
		router, err := network.NewRouter(network.RouterConfig{NodeName: name, ClusterCIDR: clusterCIDR})
		if err != nil {
			return err
		}
		p, err := proxy.New(proxy.Config{
			Client:           client,
			NodeName:         name,
			Applier:          applier,
			Routes:           router,
			ClusterCIDR:      clusterCIDR,
			ServiceCIDR:      serviceCIDR.Masked(),
			SetRouteLocalnet: true,
			Logger:           cfg.Logger.With("component", "proxy"),
		})
		if err != nil {
			return err
		}
		return p.Run(ctx)
	}}
}
