package networking

import (
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"skiff/internal/apiserver/registry"
)

// Resources returns the networking.k8s.io/v1 resources.
func Resources() []registry.Resource {
	return []registry.Resource{
		ingressResource(),
		ingressClassResource(),
		networkPolicyResource(),
		ipAddressResource(),
		serviceCIDRResource(),
	}
}

var groupVersion = networkingv1.SchemeGroupVersion

func ageColumn() metav1.TableColumnDefinition {
	return registry.Column("Age", "string", metav1.ObjectMeta{}.SwaggerDoc()["creationTimestamp"], 0)
}
