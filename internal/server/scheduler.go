package server

import (
	"context"

	"k8s.io/client-go/rest"

	"skiff/internal/scheduler"
)

// schedulerComponent runs the scheduler under the kube-scheduler Lease,
// with the profiles of cfg.SchedulerConfigFile (a KubeSchedulerConfiguration)
// or the default one.
func schedulerComponent(cfg Config) component {
	return component{
		name: "scheduler",
		user: "system:kube-scheduler",
		run: func(ctx context.Context, rc *rest.Config) error {
			s, err := scheduler.New(scheduler.Config{Rest: rc, ConfigFile: cfg.SchedulerConfigFile, Logger: cfg.Logger})
			if err != nil {
				return err
			}
			return s.Run(ctx)
		},
	}
}
