package server

import (
	"context"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"

	"k8s.io/client-go/rest"

	"skiff/internal/apiserver/auth"
	"skiff/internal/controller"
	"skiff/internal/controller/attachdetach"
	"skiff/internal/controller/clusterroleaggregation"
	"skiff/internal/controller/cronjob"
	"skiff/internal/controller/daemonset"
	"skiff/internal/controller/deployment"
	"skiff/internal/controller/disruption"
	"skiff/internal/controller/endpoints"
	"skiff/internal/controller/endpointslice"
	"skiff/internal/controller/endpointslicemirroring"
	"skiff/internal/controller/garbagecollector"
	"skiff/internal/controller/horizontalpodautoscaler"
	"skiff/internal/controller/ingressstatus"
	"skiff/internal/controller/job"
	"skiff/internal/controller/localpath"
	"skiff/internal/controller/manager"
	"skiff/internal/controller/namespace"
	"skiff/internal/controller/nodeipam"
	"skiff/internal/controller/nodelifecycle"
	"skiff/internal/controller/nodepassword"
	"skiff/internal/controller/persistentvolume"
	"skiff/internal/controller/podgc"
	"skiff/internal/controller/pvcprotection"
	"skiff/internal/controller/pvprotection"
	"skiff/internal/controller/replicaset"
	"skiff/internal/controller/resourcequota"
	"skiff/internal/controller/serviceaccount"
	"skiff/internal/controller/servicelb"
	"skiff/internal/controller/statefulset"
	"skiff/internal/controller/storageversionmigrator"
	"skiff/internal/controller/tokencleaner"
	"skiff/internal/controller/ttlafterfinished"
)

// controllersComponent runs the controller manager with every built-in
// controller, under the kube-system/kube-controller-manager Lease. An
// entry of --disable that names a controller turns that controller off.
func controllersComponent(cfg Config) component {
	return component{
		name: "controllers",
		user: auth.ControllerManagerUser,
		run: func(ctx context.Context, rc *rest.Config) error {
			ctors := controllerConstructors(cfg)
			disabled := map[string]bool{}
			for _, d := range cfg.Disable {
				if _, ok := ctors[d]; ok {
					disabled[d] = true
				}
			}
			m, err := manager.New(manager.Config{
				RESTConfig:       rc,
				Identity:         leaseIdentity(cfg),
				Controllers:      ctors,
				ServiceAccounts:  controllerAccounts(),
				AccountNamespace: auth.ControllerAccountNamespace,
				Disabled:         disabled,
				Logger:           cfg.Logger.With("component", "controllers"),
			})
			if err != nil {
				return err
			}
			return m.Run(ctx)
		},
	}
}

// controllerAccounts names the ServiceAccount (in kube-system) each
// controller acts as, as upstream's controller manager names them with
// --use-service-account-credentials; the bootstrap policy binds each its
// role (auth.ControllerAccounts).
func controllerAccounts() map[string]string {
	return map[string]string{
		"replicaset":               "replicaset-controller",
		"replicationcontroller":    "replication-controller",
		"deployment":               "deployment-controller",
		"statefulset":              "statefulset-controller",
		"daemonset":                "daemon-set-controller",
		"job":                      "job-controller",
		"cronjob":                  "cronjob-controller",
		"garbagecollector":         "generic-garbage-collector",
		"namespace":                "namespace-controller",
		"serviceaccount":           "service-account-controller",
		"root-ca-cert-publisher":   "root-ca-cert-publisher",
		"endpoints":                "endpoint-controller",
		"endpointslice":            "endpointslice-controller",
		"endpointslicemirroring":   "endpointslicemirroring-controller",
		"nodelifecycle":            "node-controller",
		"podgc":                    "pod-garbage-collector",
		"nodeipam":                 "node-controller",
		"disruption":               "disruption-controller",
		"ttl-after-finished":       "ttl-after-finished-controller",
		"resourcequota":            "resourcequota-controller",
		"horizontalpodautoscaling": "horizontal-pod-autoscaler",
		"servicelb":                "service-controller",
		"ingress-status":           "ingress-status-controller",
		"svm":                      "storage-version-migrator-controller",
		"tokencleaner":             "token-cleaner",
		"node-password":            "node-password-controller",
		"clusterrole-aggregation":  "clusterrole-aggregation-controller",
		// Persistent storage.
		"persistentvolume-binder":          "persistent-volume-binder",
		"persistentvolume-protection":      "pv-protection-controller",
		"persistentvolumeclaim-protection": "pvc-protection-controller",
		"local-path":                       "local-path-provisioner",
		"attachdetach":                     "attachdetach-controller",
	}
}

// ControllerNames are the built-in controllers' names, sorted: what
// --disable takes besides Components.
func ControllerNames() []string {
	return slices.Sorted(maps.Keys(controllerConstructors(Config{})))
}

// BuiltinController returns the constructor of the built-in controller
// name (as --disable takes it), built for a server on dataDir: for tests
// that run one controller alone against a server.
func BuiltinController(dataDir, name string) (controller.Constructor, bool) {
	ctor, ok := controllerConstructors(Config{DataDir: dataDir})[name]
	return ctor, ok
}

// controllerConstructors is the registry of built-in controllers, by
// upstream's names (which --disable takes).
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
		"replicaset":               replicaset.NewReplicaSets,
		"replicationcontroller":    replicaset.NewReplicationControllers,
		"deployment":               deployment.New,
		"statefulset":              statefulset.New,
		"daemonset":                daemonset.New,
		"job":                      job.New,
		"cronjob":                  cronjob.New,
		"garbagecollector":         garbagecollector.New,
		"namespace":                namespace.New,
		"serviceaccount":           serviceaccount.NewServiceAccounts,
		"root-ca-cert-publisher":   rootCA,
		"endpoints":                endpoints.New,
		"endpointslice":            endpointslice.New,
		"endpointslicemirroring":   endpointslicemirroring.New,
		"nodelifecycle":            nodelifecycle.New,
		"podgc":                    podgc.New,
		"nodeipam":                 nodeipam.New, // cluster CIDR 10.42.0.0/16, /24 per node
		"disruption":               disruption.New,
		"ttl-after-finished":       ttlafterfinished.New,
		"resourcequota":            resourcequota.New,
		"horizontalpodautoscaling": horizontalpodautoscaler.NewWithConfig(cfg.HPA),
		"servicelb":                servicelb.New,
		"ingress-status":           ingressstatus.New,
		"svm":                      storageversionmigrator.New,
		"tokencleaner":             tokencleaner.New,
		"node-password":            nodepassword.New,
		"clusterrole-aggregation":  clusterroleaggregation.New,
		// Persistent storage.
		"persistentvolume-binder":          persistentvolume.New,
		"persistentvolume-protection":      pvprotection.New,
		"persistentvolumeclaim-protection": pvcprotection.New,
		"local-path":                       localpath.New,
		"attachdetach":                     attachdetach.New,
	}
}
