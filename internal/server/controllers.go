package server

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"

	"k8s.io/client-go/rest"

	"skiff/internal/controller"
	"skiff/internal/controller/deployment"
	"skiff/internal/controller/endpoints"
	"skiff/internal/controller/endpointslice"
	"skiff/internal/controller/endpointslicemirroring"
	"skiff/internal/controller/garbagecollector"
	"skiff/internal/controller/manager"
	"skiff/internal/controller/namespace"
	"skiff/internal/controller/replicaset"
	"skiff/internal/controller/serviceaccount"
)

// controllersComponent runs the controller manager with every built-in
// controller, under the kube-system/kube-controller-manager Lease. An
// entry of --disable that names a controller turns that controller off.
func controllersComponent(cfg Config) component {
	return component{
		name: "controllers",
		user: "system:kube-controller-manager",
		run: func(ctx context.Context, rc *rest.Config) error {
			log := cfg.Logger
			if log == nil {
				log = slog.New(slog.DiscardHandler)
			}
			ctors := controllerConstructors(cfg)
			for name, c := range moreControllerConstructors(cfg) {
				ctors[name] = c
			}
			disabled := map[string]bool{}
			for _, d := range cfg.Disable {
				if _, ok := ctors[d]; ok {
					disabled[d] = true
				}
			}
			m, err := manager.New(manager.Config{
				RESTConfig:  rc,
				Controllers: ctors,
				Disabled:    disabled,
				Logger:      log.With("component", "controllers"),
			})
			if err != nil {
				return err
			}
			return m.Run(ctx)
		},
	}
}

// controllerConstructors returns the workload, garbage collection,
// namespace, service account and endpoints controllers by name.
func controllerConstructors(cfg Config) map[string]controller.Constructor {
	// The CA is read when the controller is built, after the server has
	// written it.
	rootCA := func(cc controller.Context) (controller.Controller, error) {
		caPEM, err := os.ReadFile(filepath.Join(cfg.DataDir, "tls", "ca.crt"))
		if err != nil {
			return nil, fmt.Errorf("read cluster CA: %w", err)
		}
		ctor, err := serviceaccount.NewRootCAPublisher(serviceaccount.RootCAConfig{CAPEM: caPEM})
		if err != nil {
			return nil, err
		}
		return ctor(cc)
	}
	return map[string]controller.Constructor{
		"replicaset":             replicaset.NewReplicaSets,
		"replicationcontroller":  replicaset.NewReplicationControllers,
		"deployment":             deployment.New,
		"garbagecollector":       garbagecollector.New,
		"namespace":              namespace.New,
		"serviceaccount":         serviceaccount.NewServiceAccounts,
		"root-ca-cert-publisher": rootCA,
		"endpoints":              endpoints.New,
		"endpointslice":          endpointslice.New,
		"endpointslicemirroring": endpointslicemirroring.New,
	}
}
