// Package reviews describes the create-only review resources of
// authentication.k8s.io/v1 (tokenreviews, selfsubjectreviews) and
// authorization.k8s.io/v1 (subjectaccessreviews, selfsubjectaccessreviews,
// localsubjectaccessreviews). Nothing is stored under them: the API server
// answers each POST with the review's status filled in.
package reviews

import (
	"strings"
	"sync"

	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"skiff/internal/apiserver/registry"
)

// Resources returns the review resources of both groups.
func Resources() []registry.Resource {
	return append(AuthenticationResources(), AuthorizationResources()...)
}

// AuthenticationResources returns the authentication.k8s.io/v1 reviews.
func AuthenticationResources() []registry.Resource {
	gv := authenticationv1.SchemeGroupVersion
	return []registry.Resource{
		review(gv, "selfsubjectreviews", "SelfSubjectReview", false, func() runtime.Object { return &authenticationv1.SelfSubjectReview{} }),
		review(gv, "tokenreviews", "TokenReview", false, func() runtime.Object { return &authenticationv1.TokenReview{} }),
	}
}

// AuthorizationResources returns the authorization.k8s.io/v1 reviews.
func AuthorizationResources() []registry.Resource {
	gv := authorizationv1.SchemeGroupVersion
	return []registry.Resource{
		review(gv, "localsubjectaccessreviews", "LocalSubjectAccessReview", true, func() runtime.Object { return &authorizationv1.LocalSubjectAccessReview{} }),
		review(gv, "selfsubjectaccessreviews", "SelfSubjectAccessReview", false, func() runtime.Object { return &authorizationv1.SelfSubjectAccessReview{} }),
		review(gv, "subjectaccessreviews", "SubjectAccessReview", false, func() runtime.Object { return &authorizationv1.SubjectAccessReview{} }),
	}
}

// IsReview reports whether gvr is one of the review resources.
func IsReview(gvr schema.GroupVersionResource) bool {
	return reviewSet()[gvr]
}

// reviewSet is the set of review resources, built once: IsReview runs on
// every request.
var reviewSet = sync.OnceValue(func() map[schema.GroupVersionResource]bool {
	set := map[schema.GroupVersionResource]bool{}
	for _, r := range Resources() {
		set[r.GroupVersionResource()] = true
	}
	return set
})

func review(gv schema.GroupVersion, resource, kind string, namespaced bool, newObj func() runtime.Object) registry.Resource {
	return registry.Resource{
		GroupVersion: gv,
		Resource:     resource,
		SingularName: strings.ToLower(kind),
		Kind:         kind,
		Namespaced:   namespaced,
		Verbs:        []string{"create"},
		New:          newObj,
		// Reviews have no list kind; the store never lists them.
		NewList: newObj,
	}
}
