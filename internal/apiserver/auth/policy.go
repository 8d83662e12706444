package auth

import (
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// bootstrapLabels mark the roles the server creates, as upstream marks its own.
var bootstrapLabels = map[string]string{"kubernetes.io/bootstrapping": "rbac-defaults"}

var autoupdate = map[string]string{"rbac.authorization.kubernetes.io/autoupdate": "true"}

func rule(verbs []string, groups []string, resources ...string) rbacv1.PolicyRule {
	return rbacv1.PolicyRule{Verbs: verbs, APIGroups: groups, Resources: resources}
}

var (
	readVerbs  = []string{"get", "list", "watch"}
	writeVerbs = []string{"create", "delete", "deletecollection", "patch", "update"}
	allVerbs   = append(append([]string{}, readVerbs...), writeVerbs...)
)

func clusterRole(name string, rules ...rbacv1.PolicyRule) *rbacv1.ClusterRole {
	return &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: bootstrapLabels, Annotations: autoupdate}, Rules: rules}
}

func clusterRoleBinding(name, role string, subjects ...rbacv1.Subject) *rbacv1.ClusterRoleBinding {
	return &rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: bootstrapLabels, Annotations: autoupdate},
		RoleRef: rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: role}, Subjects: subjects}
}

func group(name string) rbacv1.Subject {
	return rbacv1.Subject{Kind: rbacv1.GroupKind, APIGroup: rbacv1.GroupName, Name: name}
}

func user(name string) rbacv1.Subject {
	return rbacv1.Subject{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: name}
}

// nodeRules are upstream's node rules: the system:node role, and what
// the Node authorizer allows every node beyond the objects it divides by
// node (secrets, pods, ...; see Node). NodeRestriction admission limits
// the writes to a node's own objects.
func nodeRules() []rbacv1.PolicyRule {
	return []rbacv1.PolicyRule{
		rule([]string{"create"}, []string{"authentication.k8s.io"}, "tokenreviews"),
		rule([]string{"create"}, []string{"authorization.k8s.io"}, "subjectaccessreviews", "localsubjectaccessreviews"),
		rule(readVerbs, []string{""}, "services"),
		rule([]string{"create", "get", "list", "watch"}, []string{""}, "nodes"),
		rule([]string{"update", "patch"}, []string{""}, "nodes/status"),
		rule([]string{"update", "patch"}, []string{""}, "nodes"),
		rule([]string{"create", "update", "patch"}, []string{"", "events.k8s.io"}, "events"),
		rule(readVerbs, []string{""}, "pods"),
		rule([]string{"create", "delete"}, []string{""}, "pods"),
		rule([]string{"update", "patch"}, []string{""}, "pods/status"),
		rule([]string{"create"}, []string{""}, "pods/eviction"),
		rule(readVerbs, []string{""}, "secrets", "configmaps"),
		rule([]string{"get"}, []string{""}, "persistentvolumeclaims", "persistentvolumes"),
		rule([]string{"get"}, []string{""}, "endpoints"),
		rule([]string{"create", "get", "list", "watch"}, []string{"certificates.k8s.io"}, "certificatesigningrequests"),
		rule([]string{"get", "create", "update", "patch", "delete"}, []string{"coordination.k8s.io"}, "leases"),
		rule([]string{"get"}, []string{"storage.k8s.io"}, "volumeattachments"),
		rule([]string{"create"}, []string{""}, "serviceaccounts/token"),
		rule([]string{"get", "update", "patch"}, []string{""}, "persistentvolumeclaims/status"),
		rule(readVerbs, []string{"storage.k8s.io"}, "csidrivers"),
		rule([]string{"get", "create", "update", "patch", "delete"}, []string{"storage.k8s.io"}, "csinodes"),
		rule(readVerbs, []string{"node.k8s.io"}, "runtimeclasses"),
		rule([]string{"get"}, []string{"resource.k8s.io"}, "resourceclaims"),
		rule([]string{"deletecollection"}, []string{"resource.k8s.io"}, "resourceslices"),
		rule(readVerbs, []string{"certificates.k8s.io"}, "clustertrustbundles"),
		rule([]string{"get"}, []string{""}, "serviceaccounts"),
		rule([]string{"get", "list", "watch", "create"}, []string{"certificates.k8s.io"}, "podcertificaterequests"),
	}
}

// BootstrapPolicy returns the ClusterRoles and ClusterRoleBindings every
// cluster starts with, named as upstream names them: cluster-admin, the
// user-facing admin/edit/view roles, and the discovery and public-info
// roles every authenticated (or anonymous) caller holds.
func BootstrapPolicy() ([]*rbacv1.ClusterRole, []*rbacv1.ClusterRoleBinding) {
	discovery := rbacv1.PolicyRule{Verbs: []string{"get"}, NonResourceURLs: []string{
		"/api", "/api/*", "/apis", "/apis/*", "/healthz", "/livez", "/openapi", "/openapi/*", "/readyz", "/version", "/version/"}}
	publicInfo := rbacv1.PolicyRule{Verbs: []string{"get"}, NonResourceURLs: []string{"/healthz", "/livez", "/readyz", "/version", "/version/"}}
	roles := []*rbacv1.ClusterRole{
		clusterRole("cluster-admin", rbacv1.PolicyRule{Verbs: []string{"*"}, APIGroups: []string{"*"}, Resources: []string{"*"}},
			rbacv1.PolicyRule{Verbs: []string{"*"}, NonResourceURLs: []string{"*"}}),
		clusterRole("system:discovery", discovery),
		clusterRole("system:public-info-viewer", publicInfo),
		clusterRole("system:service-account-issuer-discovery", rbacv1.PolicyRule{Verbs: []string{"get"}, NonResourceURLs: []string{
			OpenIDConfigurationPath, OpenIDConfigurationPath + "/", JWKSPath, JWKSPath + "/"}}),
		clusterRole("system:node", nodeRules()...),
		clusterRole("system:node-proxier",
			rule([]string{"list", "watch"}, []string{""}, "services", "endpoints"),
			rule(readVerbs, []string{""}, "nodes"),
			rule([]string{"list", "watch"}, []string{"discovery.k8s.io"}, "endpointslices"),
			rule([]string{"create", "patch", "update"}, []string{"", "events.k8s.io"}, "events")),
		// Extension API servers delegate authentication and authorization.
		clusterRole("system:auth-delegator", rule([]string{"create"}, []string{"authentication.k8s.io"}, "tokenreviews"),
			rule([]string{"create"}, []string{"authorization.k8s.io"}, "subjectaccessreviews")),
		clusterRole("system:basic-user", rule([]string{"create"}, []string{"authorization.k8s.io"}, "selfsubjectaccessreviews", "selfsubjectrulesreviews"),
			rule([]string{"create"}, []string{"authentication.k8s.io"}, "selfsubjectreviews")),
	}
	roles = append(roles, userRoles()...)
	roles = append(roles, componentRoles()...)
	bindings := []*rbacv1.ClusterRoleBinding{
		clusterRoleBinding("cluster-admin", "cluster-admin", group("system:masters")),
		clusterRoleBinding("system:discovery", "system:discovery", group("system:authenticated")),
		clusterRoleBinding("system:basic-user", "system:basic-user", group("system:authenticated")),
		// Nodes act through the Node authorizer: the binding, as upstream
		// keeps it, has no subjects, and the server removes those an older
		// skiff gave it.
		clusterRoleBinding("system:node", "system:node"),
		clusterRoleBinding("system:node-proxier", "system:node-proxier", user("system:kube-proxy")),
		clusterRoleBinding("system:public-info-viewer", "system:public-info-viewer", group("system:authenticated"), group("system:unauthenticated")),
		clusterRoleBinding("system:service-account-issuer-discovery", "system:service-account-issuer-discovery", group("system:serviceaccounts")),
	}
	bindings = append(bindings, componentBindings()...)
	return roles, bindings
}

// ExtensionAuthenticationReader is the kube-system Role that lets extension
// API servers read extension-apiserver-authentication.
func ExtensionAuthenticationReader() *rbacv1.Role {
	return &rbacv1.Role{
		ObjectMeta: metav1.ObjectMeta{Name: "extension-apiserver-authentication-reader", Namespace: metav1.NamespaceSystem,
			Labels: bootstrapLabels, Annotations: autoupdate},
		Rules: []rbacv1.PolicyRule{{Verbs: []string{"get", "list", "watch"}, APIGroups: []string{""},
			Resources: []string{"configmaps"}, ResourceNames: []string{"extension-apiserver-authentication"}}},
	}
}
