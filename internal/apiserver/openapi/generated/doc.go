// Package generated holds the OpenAPI definitions openapi-gen generates from
// k8s.io/api and k8s.io/apimachinery; hack/update-openapi.sh rewrites it.
// Do not edit zz_generated.openapi.go by hand.
package generated
