package core

import "skiff/internal/apiserver/registry"

// Resources returns the core/v1 resources in the order upstream's
// discovery lists them (alphabetical by plural name).
func Resources() []registry.Resource {
	return []registry.Resource{
		bindingResource(),
		componentStatusResource(),
		configMapResource(),
		endpointsResource(),
		eventResource(),
		limitRangeResource(),
		namespaceResource(),
		nodeResource(),
		persistentVolumeClaimResource(),
		persistentVolumeResource(),
		podResource(),
		podTemplateResource(),
		replicationControllerResource(),
		resourceQuotaResource(),
		secretResource(),
		serviceAccountResource(),
		serviceResource(),
	}
}
