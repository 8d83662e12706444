// Package serviceaccount makes every namespace usable by pods: the
// ServiceAccounts controller keeps a "default" ServiceAccount in each
// namespace, and the root CA publisher keeps the "kube-root-ca.crt"
// ConfigMap whose ca.crt key holds the cluster CA, which projected
// service account volumes mount.
//
// Both are namespace-keyed loops: a namespace event, or the deletion or
// change of the object they maintain, enqueues the namespace; sync
// creates or repairs the object unless the namespace is terminating.
package serviceaccount
