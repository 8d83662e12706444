package server

import (
	"skiff/internal/controller"
	"skiff/internal/controller/cronjob"
	"skiff/internal/controller/daemonset"
	"skiff/internal/controller/disruption"
	"skiff/internal/controller/horizontalpodautoscaler"
	"skiff/internal/controller/job"
	"skiff/internal/controller/nodeipam"
	"skiff/internal/controller/nodelifecycle"
	"skiff/internal/controller/podgc"
	"skiff/internal/controller/resourcequota"
	"skiff/internal/controller/servicelb"
	"skiff/internal/controller/statefulset"
	"skiff/internal/controller/ttlafterfinished"
)

// moreControllerConstructors returns the StatefulSet, DaemonSet, Job,
// CronJob, node, disruption, quota, TTL and autoscaling controllers under
// upstream's names; controllersComponent merges them with the rest.
func moreControllerConstructors(cfg Config) map[string]controller.Constructor {
	return map[string]controller.Constructor{
		"statefulset":              statefulset.New,
		"daemonset":                daemonset.New,
		"job":                      job.New,
		"cronjob":                  cronjob.New,
		"nodelifecycle":            nodelifecycle.New,
		"podgc":                    podgc.New,
		"nodeipam":                 nodeipam.New, // cluster CIDR 10.42.0.0/16, /24 per node
		"disruption":               disruption.New,
		"ttl-after-finished":       ttlafterfinished.New,
		"resourcequota":            resourcequota.New,
		"horizontalpodautoscaling": horizontalpodautoscaler.New,
		"servicelb":                servicelb.New,
	}
}
