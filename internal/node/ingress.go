package node

import (
	"context"
	"net"
	"strconv"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"skiff/internal/ingress"
)

// ingressComponent runs the built-in ingress controller on this node: it
// serves the Ingresses of skiff's IngressClass on the node's HTTP and
// HTTPS ports, on every address of the host.
func ingressComponent(cfg Config) component {
	return component{name: "ingress", user: IngressUser, run: func(ctx context.Context, rc *rest.Config) error {
		client, err := kubernetes.NewForConfig(rc)
		if err != nil {
			return err
		}
		srv, err := ingress.New(ingress.Config{
			HTTPAddr:  net.JoinHostPort("", strconv.Itoa(cfg.IngressHTTPPort)),
			HTTPSAddr: net.JoinHostPort("", strconv.Itoa(cfg.IngressHTTPSPort)),
			Logger:    cfg.Logger.With("component", "ingress"),
		})
		if err != nil {
			return err
		}
		if err := srv.Listen(); err != nil {
			return err
		}
		ctx, cancel := context.WithCancel(ctx)
		defer cancel()
		errc := make(chan error, 1)
		go func() { errc <- ingress.Follow(ctx, client, srv, "") }()
		err = srv.Run(ctx)
		cancel()
		if ferr := <-errc; err == nil {
			err = ferr
		}
		return err
	}}
}
