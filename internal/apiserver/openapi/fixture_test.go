package openapi

import (
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"

	"skiff/internal/apiserver/registry"
)

// testScheme knows every k8s.io/api kind, as the API server's scheme does.
func testScheme(t testing.TB) *runtime.Scheme {
	t.Helper()
	s := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(s); err != nil {
		t.Fatal(err)
	}
	return s
}

// testResources is a cross-section of what the API server serves: namespaced
// and cluster resources, every kind of subresource, a create-only resource.
func testResources() []*registry.Resource {
	core := corev1.SchemeGroupVersion
	return []*registry.Resource{
		{
			GroupVersion: core, Resource: "pods", Kind: "Pod", Namespaced: true,
			Subresources: []string{"status", "binding", "eviction", "log", "exec", "attach", "portforward", "proxy", "ephemeralcontainers", "resize"},
			New:          func() runtime.Object { return &corev1.Pod{} },
			NewList:      func() runtime.Object { return &corev1.PodList{} },
		},
		{
			GroupVersion: core, Resource: "namespaces", Kind: "Namespace",
			Subresources: []string{"status", "finalize"},
			New:          func() runtime.Object { return &corev1.Namespace{} },
			NewList:      func() runtime.Object { return &corev1.NamespaceList{} },
		},
		{
			GroupVersion: core, Resource: "services", Kind: "Service", Namespaced: true,
			Subresources: []string{"status", "proxy"},
			New:          func() runtime.Object { return &corev1.Service{} },
			NewList:      func() runtime.Object { return &corev1.ServiceList{} },
		},
		{
			GroupVersion: core, Resource: "serviceaccounts", Kind: "ServiceAccount", Namespaced: true,
			Subresources: []string{"token"},
			New:          func() runtime.Object { return &corev1.ServiceAccount{} },
			NewList:      func() runtime.Object { return &corev1.ServiceAccountList{} },
		},
		{
			GroupVersion: appsv1.SchemeGroupVersion, Resource: "deployments", Kind: "Deployment", Namespaced: true,
			Subresources: []string{"status", "scale"},
			New:          func() runtime.Object { return &appsv1.Deployment{} },
			NewList:      func() runtime.Object { return &appsv1.DeploymentList{} },
		},
		{
			GroupVersion: rbacv1.SchemeGroupVersion, Resource: "clusterroles", Kind: "ClusterRole",
			New:     func() runtime.Object { return &rbacv1.ClusterRole{} },
			NewList: func() runtime.Object { return &rbacv1.ClusterRoleList{} },
		},
		{
			GroupVersion: authenticationv1.SchemeGroupVersion, Resource: "tokenreviews", Kind: "TokenReview",
			Verbs: []string{"create"},
			New:   func() runtime.Object { return &authenticationv1.TokenReview{} },
		},
	}
}

func newTestSpec(t testing.TB) *Spec {
	t.Helper()
	s, err := New(Config{Scheme: testScheme(t), Resources: testResources()})
	if err != nil {
		t.Fatal(err)
	}
	return s
}
