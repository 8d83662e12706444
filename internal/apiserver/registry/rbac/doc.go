// Package rbac holds the strategies of rbac.authorization.k8s.io/v1: roles,
// rolebindings, clusterroles and clusterrolebindings.
//
// Resources returns them; the API server serves them with its generic store.
// Rules and bindings are validated the way upstream does (verbs required,
// roleRef immutable, subject kinds); authorization itself lives in
// apiserver/auth.
package rbac
