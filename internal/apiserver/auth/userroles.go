package auth

import (
	"maps"

	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// The labels that aggregate a ClusterRole's rules into admin, edit and view.
const (
	AggregateToAdmin = "rbac.authorization.k8s.io/aggregate-to-admin"
	AggregateToEdit  = "rbac.authorization.k8s.io/aggregate-to-edit"
	AggregateToView  = "rbac.authorization.k8s.io/aggregate-to-view"
)

// Verb sets of upstream's bootstrap policy.
var (
	writeOnly = []string{"create", "update", "patch", "delete", "deletecollection"}
	readWrite = []string{"get", "list", "watch", "create", "update", "patch", "delete", "deletecollection"}
)

// aggregatedRole is a bootstrap ClusterRole whose rules the aggregation
// controller gathers from the ClusterRoles labelled selectLabel; labels
// are added to the bootstrap ones.
func aggregatedRole(name, selectLabel string, labels map[string]string) *rbacv1.ClusterRole {
	r := clusterRole(name)
	r.Labels = withBootstrapLabels(labels)
	r.AggregationRule = &rbacv1.AggregationRule{ClusterRoleSelectors: []metav1.LabelSelector{
		{MatchLabels: map[string]string{selectLabel: "true"}}}}
	return r
}

func withBootstrapLabels(labels map[string]string) map[string]string {
	out := maps.Clone(bootstrapLabels)
	maps.Copy(out, labels)
	return out
}

// userRoles are upstream's user-facing roles: admin, edit and view, empty
// but for their aggregation rules, and the system:aggregate-to-* roles that
// hold their rules. admin gathers edit (and so view) through the labels
// edit and view carry.
func userRoles() []*rbacv1.ClusterRole {
	aggregateTo := func(name, label string, rules ...rbacv1.PolicyRule) *rbacv1.ClusterRole {
		r := clusterRole(name, rules...)
		r.Labels = withBootstrapLabels(map[string]string{label: "true"})
		return r
	}
	return []*rbacv1.ClusterRole{
		aggregatedRole("admin", AggregateToAdmin, nil),
		aggregatedRole("edit", AggregateToEdit, map[string]string{AggregateToAdmin: "true"}),
		aggregatedRole("view", AggregateToView, map[string]string{AggregateToEdit: "true"}),
		aggregateTo("system:aggregate-to-admin", AggregateToAdmin,
			rule([]string{"create"}, []string{"authorization.k8s.io"}, "localsubjectaccessreviews"),
			rule(readWrite, []string{"rbac.authorization.k8s.io"}, "roles", "rolebindings")),
		aggregateTo("system:aggregate-to-edit", AggregateToEdit, editRules()...),
		aggregateTo("system:aggregate-to-view", AggregateToView, viewRules()...),
		metricsReader(),
	}
}

// metricsReader is the role metrics-server installs with its API, which
// skiff serves itself: whoever may view, edit or administer a namespace
// may read its pods' resource usage (kubectl top), and the nodes' usage
// where the binding is cluster-wide.
func metricsReader() *rbacv1.ClusterRole {
	r := clusterRole("system:aggregated-metrics-reader", rule(readVerbs, []string{"metrics.k8s.io"}, "pods", "nodes"))
	r.Labels = withBootstrapLabels(map[string]string{AggregateToView: "true", AggregateToEdit: "true", AggregateToAdmin: "true"})
	return r
}

// viewRules read what a namespace holds, except what could escalate
// (secrets, pods' exec and the like).
func viewRules() []rbacv1.PolicyRule {
	return []rbacv1.PolicyRule{
		rule(readVerbs, []string{""}, "pods", "replicationcontrollers", "replicationcontrollers/scale", "serviceaccounts",
			"services", "services/status", "endpoints", "persistentvolumeclaims", "persistentvolumeclaims/status", "configmaps"),
		rule(readVerbs, []string{""}, "limitranges", "resourcequotas", "bindings", "pods/status", "resourcequotas/status",
			"namespaces/status", "replicationcontrollers/status", "pods/log"),
		// Reading namespaces in a namespace reads that namespace.
		rule(readVerbs, []string{""}, "namespaces"),
		rule(readVerbs, []string{"", "events.k8s.io"}, "events"),
		rule(readVerbs, []string{"discovery.k8s.io"}, "endpointslices"),
		rule(readVerbs, []string{"apps"}, "controllerrevisions", "statefulsets", "statefulsets/status", "statefulsets/scale",
			"daemonsets", "daemonsets/status", "deployments", "deployments/status", "deployments/scale",
			"replicasets", "replicasets/status", "replicasets/scale"),
		rule(readVerbs, []string{"autoscaling"}, "horizontalpodautoscalers", "horizontalpodautoscalers/status"),
		rule(readVerbs, []string{"batch"}, "jobs", "cronjobs", "cronjobs/status", "jobs/status"),
		rule(readVerbs, []string{"extensions"}, "daemonsets", "daemonsets/status", "deployments", "deployments/scale",
			"deployments/status", "ingresses", "ingresses/status", "replicasets", "replicasets/scale", "replicasets/status",
			"replicationcontrollers/scale", "networkpolicies"),
		rule(readVerbs, []string{"policy"}, "poddisruptionbudgets", "poddisruptionbudgets/status"),
		rule(readVerbs, []string{"networking.k8s.io"}, "networkpolicies", "ingresses", "ingresses/status"),
		// DynamicResourceAllocation is on, as upstream's default.
		rule(readVerbs, []string{"resource.k8s.io"}, "resourceclaims", "resourceclaims/status", "resourceclaimtemplates"),
	}
}

// editRules write what a namespace holds, but neither roles and bindings
// nor quotas, limits and status, which are the administrator's.
func editRules() []rbacv1.PolicyRule {
	return []rbacv1.PolicyRule{
		rule(readVerbs, []string{""}, "pods/attach", "pods/proxy", "pods/exec", "pods/portforward", "secrets", "services/proxy"),
		rule([]string{"impersonate"}, []string{""}, "serviceaccounts"),
		rule(writeOnly, []string{""}, "pods", "pods/attach", "pods/proxy", "pods/exec", "pods/portforward"),
		rule([]string{"create"}, []string{""}, "pods/eviction"),
		rule(writeOnly, []string{""}, "replicationcontrollers", "replicationcontrollers/scale", "serviceaccounts",
			"services", "services/proxy", "persistentvolumeclaims", "configmaps", "secrets"),
		rule([]string{"create"}, []string{""}, "serviceaccounts/token"),
		rule(writeOnly, []string{"", "events.k8s.io"}, "events"),
		rule(writeOnly, []string{"apps"}, "statefulsets", "statefulsets/scale", "daemonsets", "deployments", "deployments/scale",
			"deployments/rollback", "replicasets", "replicasets/scale"),
		rule(writeOnly, []string{"autoscaling"}, "horizontalpodautoscalers"),
		rule(writeOnly, []string{"batch"}, "jobs", "cronjobs"),
		rule(writeOnly, []string{"extensions"}, "daemonsets", "deployments", "deployments/scale", "deployments/rollback",
			"ingresses", "replicasets", "replicasets/scale", "replicationcontrollers/scale", "networkpolicies"),
		rule(writeOnly, []string{"policy"}, "poddisruptionbudgets"),
		rule(writeOnly, []string{"networking.k8s.io"}, "networkpolicies", "ingresses"),
		rule(readWrite, []string{"coordination.k8s.io"}, "leases"),
		rule(writeOnly, []string{"resource.k8s.io"}, "resourceclaims", "resourceclaimtemplates"),
	}
}
