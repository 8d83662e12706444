// Package all gathers every built-in resource's registry description.
package all

import (
	"skiff/internal/apiserver/registry"
	"skiff/internal/apiserver/registry/admissionregistration"
	"skiff/internal/apiserver/registry/apiextensions"
	"skiff/internal/apiserver/registry/apiregistration"
	"skiff/internal/apiserver/registry/apps"
	"skiff/internal/apiserver/registry/autoscaling"
	"skiff/internal/apiserver/registry/batch"
	"skiff/internal/apiserver/registry/certificates"
	"skiff/internal/apiserver/registry/coordination"
	"skiff/internal/apiserver/registry/core"
	"skiff/internal/apiserver/registry/discovery"
	"skiff/internal/apiserver/registry/events"
	"skiff/internal/apiserver/registry/flowcontrol"
	"skiff/internal/apiserver/registry/metricsapi"
	"skiff/internal/apiserver/registry/networking"
	"skiff/internal/apiserver/registry/nodeapi"
	"skiff/internal/apiserver/registry/policy"
	"skiff/internal/apiserver/registry/rbac"
	"skiff/internal/apiserver/registry/resourceapi"
	"skiff/internal/apiserver/registry/reviews"
	"skiff/internal/apiserver/registry/scheduling"
	"skiff/internal/apiserver/registry/storageapi"
	"skiff/internal/apiserver/registry/storagemigration"
)

// Resources returns every built-in resource, core first, then the groups in
// the order upstream's discovery lists them.
func Resources() []registry.Resource {
	var out []registry.Resource
	for _, group := range [][]registry.Resource{
		core.Resources(),
		apps.Resources(),
		events.Resources(),
		reviews.AuthenticationResources(),
		reviews.AuthorizationResources(),
		autoscaling.Resources(),
		batch.Resources(),
		certificates.Resources(),
		networking.Resources(),
		policy.Resources(),
		rbac.Resources(),
		storageapi.Resources(),
		admissionregistration.Resources(),
		scheduling.Resources(),
		coordination.Resources(),
		nodeapi.Resources(),
		discovery.Resources(),
		flowcontrol.Resources(),
		resourceapi.Resources(),
		storagemigration.Resources(),
		apiextensions.Resources(),
		apiregistration.Resources(),
		metricsapi.Resources(),
	} {
		out = append(out, group...)
	}
	return out
}
