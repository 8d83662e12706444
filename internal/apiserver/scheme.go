package apiserver

import (
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	apiregistrationv1 "k8s.io/kube-aggregator/pkg/apis/apiregistration/v1"
	metricsv1beta1 "k8s.io/metrics/pkg/apis/metrics/v1beta1"
)

// NewScheme returns a scheme with every built-in type, plus the meta.k8s.io
// types clients send and receive (DeleteOptions, Table, PartialObjectMetadata).
func NewScheme() (*runtime.Scheme, error) {
	s := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(s); err != nil {
		return nil, err
	}
	if err := apiextensionsv1.AddToScheme(s); err != nil {
		return nil, err
	}
	if err := apiregistrationv1.AddToScheme(s); err != nil {
		return nil, err
	}
	if err := metricsv1beta1.AddToScheme(s); err != nil {
		return nil, err
	}
	metav1.AddToGroupVersion(s, metav1.SchemeGroupVersion)
	metav1.AddMetaToScheme(s)
	return s, nil
}
