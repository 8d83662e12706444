package auth

import (
	"maps"
	"slices"

	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Users of the control-plane components, as upstream names them.
const (
	SchedulerUser         = "system:kube-scheduler"
	ControllerManagerUser = "system:kube-controller-manager"
)

// ControllerRolePrefix starts the name of each controller's ClusterRole
// (or kube-system Role), followed by the name of its ServiceAccount.
const ControllerRolePrefix = "system:controller:"

// ControllerAccountNamespace holds the controllers' ServiceAccounts.
const ControllerAccountNamespace = metav1.NamespaceSystem

// Verb sets of the component roles.
var (
	readUpdate = []string{"get", "list", "watch", "update", "patch"}
	crud       = []string{"get", "list", "watch", "create", "update", "patch", "delete"}
)

// eventRules let a component record events, in both API groups.
func eventRules() rbacv1.PolicyRule {
	return rule([]string{"create", "update", "patch"}, []string{"", "events.k8s.io"}, "events")
}

func named(r rbacv1.PolicyRule, names ...string) rbacv1.PolicyRule {
	r.ResourceNames = names
	return r
}

// controllerRules are the rules of each controller's ServiceAccount, by
// its name, as upstream's --use-service-account-credentials has them: the
// names and rules of upstream's system:controller:* roles where upstream
// has the controller (clients rely on both), and exactly what skiff's own
// controllers need otherwise. Controllers read through the manager's
// shared informers, so most need no list or watch of their own.
func controllerRules() map[string][]rbacv1.PolicyRule {
	apps := []string{"apps", "extensions"}
	return map[string][]rbacv1.PolicyRule{
		"attachdetach-controller": {
			rule([]string{"list", "watch"}, []string{""}, "persistentvolumes", "persistentvolumeclaims"),
			rule([]string{"get", "list", "watch"}, []string{""}, "nodes"),
			rule([]string{"patch", "update"}, []string{""}, "nodes/status"),
			rule([]string{"list", "watch"}, []string{""}, "pods"),
			rule([]string{"get", "list", "watch", "create", "delete"}, []string{"storage.k8s.io"}, "volumeattachments"),
			rule([]string{"get", "list", "watch"}, []string{"storage.k8s.io"}, "csidrivers", "csinodes"),
			eventRules(),
		},
		"clusterrole-aggregation-controller": {
			rule([]string{"escalate", "get", "list", "watch", "update", "patch"}, []string{rbacv1.GroupName}, "clusterroles"),
		},
		"cronjob-controller": {
			rule([]string{"get", "list", "watch", "update"}, []string{"batch"}, "cronjobs"),
			rule(crud, []string{"batch"}, "jobs"),
			rule([]string{"update"}, []string{"batch"}, "cronjobs/status", "cronjobs/finalizers"),
			rule([]string{"list", "watch", "delete"}, []string{""}, "pods"),
			eventRules(),
		},
		"daemon-set-controller": {
			rule(readVerbs, apps, "daemonsets"),
			rule([]string{"update"}, apps, "daemonsets/status", "daemonsets/finalizers"),
			rule([]string{"list", "watch"}, []string{""}, "nodes"),
			rule([]string{"list", "watch", "create", "delete", "patch"}, []string{""}, "pods"),
			rule([]string{"create"}, []string{""}, "pods/binding"),
			rule(crud, []string{"apps"}, "controllerrevisions"),
			eventRules(),
		},
		"deployment-controller": {
			rule([]string{"get", "list", "watch", "update"}, apps, "deployments"),
			rule([]string{"update"}, apps, "deployments/status", "deployments/finalizers"),
			rule(crud, apps, "replicasets"),
			rule([]string{"get", "list", "watch", "update"}, []string{""}, "pods"),
			eventRules(),
		},
		"disruption-controller": {
			rule(readVerbs, apps, "deployments", "replicasets"),
			rule(readVerbs, []string{""}, "replicationcontrollers"),
			rule(readVerbs, []string{"policy"}, "poddisruptionbudgets"),
			rule(readVerbs, []string{"apps"}, "statefulsets"),
			rule([]string{"update"}, []string{"policy"}, "poddisruptionbudgets/status"),
			rule([]string{"patch", "update"}, []string{""}, "pods/status"),
			rule([]string{"get"}, []string{"*"}, "*/scale"),
			eventRules(),
		},
		"endpoint-controller": {
			rule(readVerbs, []string{""}, "services", "pods"),
			rule([]string{"get", "list", "watch", "create", "update", "delete"}, []string{""}, "endpoints"),
			rule([]string{"create"}, []string{""}, "endpoints/restricted"),
			eventRules(),
		},
		"endpointslice-controller": {
			rule(readVerbs, []string{""}, "services", "pods", "nodes"),
			rule([]string{"update"}, []string{""}, "services/finalizers"),
			rule([]string{"get", "list", "watch", "create", "update", "delete"}, []string{"discovery.k8s.io"}, "endpointslices"),
			eventRules(),
		},
		"endpointslicemirroring-controller": {
			rule(readVerbs, []string{""}, "services", "endpoints"),
			rule([]string{"update"}, []string{""}, "services/finalizers", "endpoints/finalizers"),
			rule([]string{"get", "list", "watch", "create", "update", "delete"}, []string{"discovery.k8s.io"}, "endpointslices"),
			eventRules(),
		},
		"generic-garbage-collector": {
			rule([]string{"get", "list", "watch", "patch", "update", "delete"}, []string{"*"}, "*"),
			eventRules(),
		},
		"horizontal-pod-autoscaler": {
			rule(readVerbs, []string{"autoscaling"}, "horizontalpodautoscalers"),
			rule([]string{"update"}, []string{"autoscaling"}, "horizontalpodautoscalers/status"),
			rule([]string{"get", "update"}, []string{"*"}, "*/scale"),
			rule([]string{"list", "watch"}, []string{""}, "pods"),
			rule([]string{"list", "watch"}, []string{"metrics.k8s.io"}, "pods"),
			rule(readVerbs, []string{"custom.metrics.k8s.io"}, "*"),
			rule(readVerbs, []string{"external.metrics.k8s.io"}, "*"),
			eventRules(),
		},
		"job-controller": {
			rule(readUpdate, []string{"batch"}, "jobs"),
			rule([]string{"update"}, []string{"batch"}, "jobs/status", "jobs/finalizers"),
			rule([]string{"list", "watch", "create", "delete", "patch"}, []string{""}, "pods"),
			eventRules(),
		},
		"namespace-controller": {
			rule([]string{"get", "list", "watch", "delete"}, []string{""}, "namespaces"),
			rule([]string{"update"}, []string{""}, "namespaces/finalize", "namespaces/status"),
			rule([]string{"get", "list", "watch", "delete", "deletecollection"}, []string{"*"}, "*"),
		},
		// Node lifecycle and node IPAM, as upstream's.
		"node-controller": {
			rule([]string{"get", "list", "watch", "update", "delete", "patch"}, []string{""}, "nodes"),
			rule([]string{"patch", "update"}, []string{""}, "nodes/status", "pods/status"),
			rule([]string{"list", "watch", "get", "delete"}, []string{""}, "pods"),
			rule(readVerbs, []string{"coordination.k8s.io"}, "leases"),
			eventRules(),
		},
		// skiff's pod GC writes the status of the pods it fails with an
		// update, where upstream's patches.
		"persistent-volume-binder": {
			rule([]string{"get", "list", "watch", "update", "create", "delete"}, []string{""}, "persistentvolumes"),
			rule([]string{"update"}, []string{""}, "persistentvolumes/status"),
			rule([]string{"get", "list", "watch", "update"}, []string{""}, "persistentvolumeclaims"),
			rule([]string{"update"}, []string{""}, "persistentvolumeclaims/status"),
			rule([]string{"list", "watch", "get", "create", "delete"}, []string{""}, "pods"),
			rule(readVerbs, []string{"storage.k8s.io"}, "storageclasses"),
			rule([]string{"get", "create", "update", "delete"}, []string{""}, "endpoints"),
			rule([]string{"get", "create", "delete"}, []string{""}, "services"),
			rule([]string{"get"}, []string{""}, "secrets"),
			rule([]string{"get", "list"}, []string{""}, "nodes"),
			rule([]string{"watch"}, []string{""}, "events"),
			eventRules(),
		},
		"pv-protection-controller": {
			rule([]string{"get", "list", "watch", "update"}, []string{""}, "persistentvolumes"),
			eventRules(),
		},
		"pvc-protection-controller": {
			rule([]string{"get", "list", "watch", "update"}, []string{""}, "persistentvolumeclaims"),
			rule([]string{"list", "watch", "get"}, []string{""}, "pods"),
			eventRules(),
		},
		"pod-garbage-collector": {
			rule([]string{"list", "watch", "delete"}, []string{""}, "pods"),
			rule(readVerbs, []string{""}, "nodes"),
			rule([]string{"patch", "update"}, []string{""}, "pods/status"),
		},
		"replicaset-controller": {
			rule([]string{"get", "list", "watch", "update"}, apps, "replicasets"),
			rule([]string{"update"}, apps, "replicasets/status", "replicasets/finalizers"),
			rule([]string{"list", "watch", "patch", "create", "delete"}, []string{""}, "pods"),
			eventRules(),
		},
		"replication-controller": {
			rule([]string{"get", "list", "watch", "update"}, []string{""}, "replicationcontrollers"),
			rule([]string{"update"}, []string{""}, "replicationcontrollers/status", "replicationcontrollers/finalizers"),
			rule([]string{"list", "watch", "patch", "create", "delete"}, []string{""}, "pods"),
			eventRules(),
		},
		"resourcequota-controller": {
			rule([]string{"list", "watch"}, []string{"*"}, "*"),
			rule([]string{"update"}, []string{""}, "resourcequotas/status"),
			eventRules(),
		},
		"root-ca-cert-publisher": {
			rule([]string{"create", "update"}, []string{""}, "configmaps"),
			eventRules(),
		},
		"service-account-controller": {
			rule([]string{"create"}, []string{""}, "serviceaccounts"),
			eventRules(),
		},
		// skiff's servicelb does the job of upstream's (cloud) service
		// controller: it writes LoadBalancer Services' status.
		"service-controller": {
			rule(readVerbs, []string{""}, "services"),
			rule([]string{"patch", "update"}, []string{""}, "services/status"),
			rule([]string{"list", "watch"}, []string{""}, "nodes"),
			eventRules(),
		},
		// skiff's ingress status controller publishes the node addresses
		// in the status of the Ingresses of skiff's class.
		"ingress-status-controller": {
			rule([]string{"list", "watch"}, []string{"networking.k8s.io"}, "ingresses", "ingressclasses"),
			rule([]string{"patch", "update"}, []string{"networking.k8s.io"}, "ingresses/status"),
			rule([]string{"list", "watch"}, []string{""}, "nodes"),
			eventRules(),
		},
		"statefulset-controller": {
			rule([]string{"list", "watch"}, []string{""}, "pods"),
			rule(readVerbs, []string{"apps"}, "statefulsets"),
			rule([]string{"update"}, []string{"apps"}, "statefulsets/status", "statefulsets/finalizers"),
			rule([]string{"get", "create", "delete", "update", "patch"}, []string{""}, "pods"),
			rule(crud, []string{"apps"}, "controllerrevisions"),
			rule([]string{"get", "create", "list", "watch", "update", "delete"}, []string{""}, "persistentvolumeclaims"),
			rule([]string{"update"}, []string{""}, "pods/finalizers"),
			eventRules(),
		},
		// Upstream's, and the storage migrations themselves, which skiff's
		// migrator reads afresh before it writes their status, and the
		// CRDs' status, which it updates rather than patches.
		"storage-version-migrator-controller": {
			rule([]string{"list", "patch"}, []string{"*"}, "*"),
			rule([]string{"get"}, []string{"apiextensions.k8s.io"}, "customresourcedefinitions"),
			rule([]string{"patch", "update"}, []string{"apiextensions.k8s.io"}, "customresourcedefinitions/status"),
			rule([]string{"get"}, []string{"storagemigration.k8s.io"}, "storageversionmigrations"),
			rule([]string{"update"}, []string{"storagemigration.k8s.io"}, "storageversionmigrations/status"),
		},
		// skiff's local-path provisioner: provisions, expands and deletes
		// the PVs of its claims.
		"local-path-provisioner": {
			rule([]string{"get", "list", "watch", "update"}, []string{""}, "persistentvolumeclaims"),
			rule([]string{"update"}, []string{""}, "persistentvolumeclaims/status"),
			rule([]string{"get", "list", "watch", "create", "update", "delete"}, []string{""}, "persistentvolumes"),
			rule(readVerbs, []string{"storage.k8s.io"}, "storageclasses"),
			rule(readVerbs, []string{""}, "nodes"),
			rule([]string{"create", "patch"}, []string{"", "events.k8s.io"}, "events"),
		},
		"ttl-after-finished-controller": {
			rule([]string{"get", "list", "watch", "delete"}, []string{"batch"}, "jobs"),
			eventRules(),
		},
	}
}

// controllerSystemRules are the rules of the controllers that act only in
// kube-system, granted by a Role there rather than a ClusterRole.
func controllerSystemRules() map[string][]rbacv1.PolicyRule {
	return map[string][]rbacv1.PolicyRule{
		// Upstream's: bootstrap token Secrets live in kube-system.
		"token-cleaner": {
			rule([]string{"get", "list", "watch", "delete"}, []string{""}, "secrets"),
			eventRules(),
		},
		// skiff's: it lists the node password Secrets and deletes those
		// of deleted Nodes (which it reads from the shared informers).
		"node-password-controller": {
			rule([]string{"list", "delete"}, []string{""}, "secrets"),
			eventRules(),
		},
	}
}

// ControllerAccounts are the names of the ServiceAccounts (in
// ControllerAccountNamespace) the bootstrap policy grants a role to,
// sorted.
func ControllerAccounts() []string {
	all := controllerRules()
	maps.Copy(all, controllerSystemRules())
	return slices.Sorted(maps.Keys(all))
}

func serviceAccount(namespace, name string) rbacv1.Subject {
	return rbacv1.Subject{Kind: rbacv1.ServiceAccountKind, Namespace: namespace, Name: name}
}

// componentRoles are the ClusterRoles of the control-plane and node
// components other than the agent, and of each controller.
func componentRoles() []*rbacv1.ClusterRole {
	roles := []*rbacv1.ClusterRole{
		// The controller manager itself: its Lease, the shared informers
		// (every resource), and the controllers' ServiceAccounts and
		// tokens. Its controllers act as those accounts.
		clusterRole(ControllerManagerUser,
			eventRules(),
			rule([]string{"create"}, []string{"coordination.k8s.io"}, "leases"),
			named(rule([]string{"get", "update"}, []string{"coordination.k8s.io"}, "leases"), "kube-controller-manager"),
			rule([]string{"create"}, []string{""}, "secrets", "serviceaccounts"),
			rule([]string{"delete"}, []string{""}, "secrets"),
			rule([]string{"get"}, []string{""}, "namespaces", "secrets", "serviceaccounts", "configmaps"),
			rule([]string{"update"}, []string{""}, "secrets", "serviceaccounts"),
			rule([]string{"create"}, []string{"authentication.k8s.io"}, "tokenreviews"),
			rule([]string{"create"}, []string{"authorization.k8s.io"}, "subjectaccessreviews"),
			rule([]string{"list", "watch"}, []string{"*"}, "*"),
			rule([]string{"create"}, []string{""}, "serviceaccounts/token")),
		clusterRole(SchedulerUser, schedulerRules()...),
		clusterRole("system:volume-scheduler",
			rule(readUpdate, []string{""}, "persistentvolumes", "persistentvolumeclaims"),
			rule(readVerbs, []string{"storage.k8s.io"}, "storageclasses")),
		// skiff's cluster DNS: upstream's kube-dns role, with what it
		// serves records from (EndpointSlices) and the Nodes whose
		// addresses may use it as a recursive resolver.
		clusterRole("system:skiff-dns",
			rule([]string{"list", "watch"}, []string{""}, "endpoints", "services", "nodes"),
			rule([]string{"list", "watch"}, []string{"discovery.k8s.io"}, "endpointslices")),
		// skiff's ingress controller reads what it routes by: Ingresses
		// and their classes, Services and their EndpointSlices, and the
		// TLS Secrets the Ingresses name. The controller manager writes
		// the Ingresses' status.
		clusterRole(IngressUser,
			rule([]string{"list", "watch"}, []string{"networking.k8s.io"}, "ingresses", "ingressclasses"),
			rule([]string{"list", "watch"}, []string{""}, "services", "secrets"),
			rule([]string{"list", "watch"}, []string{"discovery.k8s.io"}, "endpointslices")),
		// Upstream's role for full access to the kubelet API; skiff's node
		// agents admit the API server's client certificate by name, so it
		// is bound to no one by default.
		clusterRole("system:kubelet-api-admin",
			rule(readVerbs, []string{""}, "nodes"),
			rule([]string{"proxy"}, []string{""}, "nodes"),
			rule([]string{"*"}, []string{""}, "nodes/proxy", "nodes/metrics", "nodes/stats", "nodes/log")),
	}
	ctrl := controllerRules()
	for _, name := range slices.Sorted(maps.Keys(ctrl)) {
		roles = append(roles, clusterRole(ControllerRolePrefix+name, ctrl[name]...))
	}
	return roles
}

// schedulerRules are upstream's system:kube-scheduler rules (with dynamic
// resource allocation on, as skiff has it), and the PriorityClasses that
// skiff's scheduler reads for preemption.
func schedulerRules() []rbacv1.PolicyRule {
	return []rbacv1.PolicyRule{
		eventRules(),
		rule([]string{"create"}, []string{"coordination.k8s.io"}, "leases"),
		named(rule([]string{"get", "update", "list", "watch"}, []string{"coordination.k8s.io"}, "leases"), "kube-scheduler"),
		rule(readWrite, []string{"coordination.k8s.io"}, "leasecandidates"),
		rule(readVerbs, []string{""}, "nodes"),
		rule([]string{"get", "list", "watch", "delete"}, []string{""}, "pods"),
		rule([]string{"create"}, []string{""}, "pods/binding", "bindings"),
		rule([]string{"patch", "update"}, []string{""}, "pods/status"),
		rule(readVerbs, []string{""}, "services", "replicationcontrollers"),
		rule(readVerbs, []string{"apps", "extensions"}, "replicasets"),
		rule(readVerbs, []string{"apps"}, "statefulsets"),
		rule(readVerbs, []string{"policy"}, "poddisruptionbudgets"),
		rule(readVerbs, []string{""}, "persistentvolumeclaims", "persistentvolumes"),
		rule([]string{"create"}, []string{"authentication.k8s.io"}, "tokenreviews"),
		rule([]string{"create"}, []string{"authorization.k8s.io"}, "subjectaccessreviews"),
		rule(readVerbs, []string{"storage.k8s.io"}, "csinodes"),
		rule(readVerbs, []string{"storage.k8s.io"}, "volumeattachments"),
		rule(readVerbs, []string{""}, "namespaces"),
		rule(readVerbs, []string{"storage.k8s.io"}, "csidrivers"),
		rule(readVerbs, []string{"storage.k8s.io"}, "csistoragecapacities"),
		rule(readVerbs, []string{"resource.k8s.io"}, "deviceclasses"),
		rule(readUpdate, []string{"resource.k8s.io"}, "resourceclaims", "resourceclaims/status"),
		rule([]string{"update"}, []string{""}, "pods/finalizers"),
		rule(readVerbs, []string{"resource.k8s.io"}, "resourceslices"),
		rule(readVerbs, []string{"scheduling.k8s.io"}, "priorityclasses"),
	}
}

// componentBindings bind componentRoles to their users and accounts.
func componentBindings() []*rbacv1.ClusterRoleBinding {
	bindings := []*rbacv1.ClusterRoleBinding{
		clusterRoleBinding(ControllerManagerUser, ControllerManagerUser, user(ControllerManagerUser)),
		clusterRoleBinding(SchedulerUser, SchedulerUser, user(SchedulerUser)),
		clusterRoleBinding("system:volume-scheduler", "system:volume-scheduler", user(SchedulerUser)),
		clusterRoleBinding("system:skiff-dns", "system:skiff-dns", user(DNSUser)),
		clusterRoleBinding(IngressUser, IngressUser, user(IngressUser)),
	}
	for _, name := range slices.Sorted(maps.Keys(controllerRules())) {
		bindings = append(bindings, clusterRoleBinding(ControllerRolePrefix+name, ControllerRolePrefix+name,
			serviceAccount(ControllerAccountNamespace, name)))
	}
	return bindings
}

// DNSUser, IngressUser and JoinUser are the users of the cluster DNS, of
// the ingress controller and of the join protocol's writes.
const (
	DNSUser     = "system:skiff-dns"
	IngressUser = "system:skiff-ingress"
	JoinUser    = "system:skiff-join"
)

// systemRoles are the Roles in kube-system: the extension API servers'
// reader, the components' leader election, the controllers that act only
// there, and the DNS's and the join protocol's objects.
func systemRoles() []*rbacv1.Role {
	leaderLocking := []rbacv1.PolicyRule{
		rule([]string{"get", "watch", "list", "create", "update"}, []string{"coordination.k8s.io"}, "leases"),
		rule([]string{"get", "watch", "list", "create", "update"}, []string{"coordination.k8s.io"}, "leasecandidates"),
	}
	roles := []*rbacv1.Role{
		ExtensionAuthenticationReader(),
		systemRole("system::leader-locking-kube-controller-manager", leaderLocking...),
		systemRole("system::leader-locking-kube-scheduler", leaderLocking...),
		// The DNS publishes the kube-dns Service and its EndpointSlice.
		systemRole(DNSUser,
			rule([]string{"create"}, []string{""}, "services"),
			rule([]string{"create"}, []string{"discovery.k8s.io"}, "endpointslices"),
			named(rule([]string{"get", "update"}, []string{"discovery.k8s.io"}, "endpointslices"), "kube-dns-skiff")),
		// The join protocol stores node passwords as Secrets; it reads
		// them in-process, and RBAC cannot narrow a create by name.
		systemRole(JoinUser, rule([]string{"create"}, []string{""}, "secrets")),
	}
	sys := controllerSystemRules()
	for _, name := range slices.Sorted(maps.Keys(sys)) {
		roles = append(roles, systemRole(ControllerRolePrefix+name, sys[name]...))
	}
	return roles
}

// systemRoleBindings bind systemRoles.
func systemRoleBindings() []*rbacv1.RoleBinding {
	bindings := []*rbacv1.RoleBinding{
		systemRoleBinding("system::extension-apiserver-authentication-reader", "extension-apiserver-authentication-reader",
			user(ControllerManagerUser), user(SchedulerUser)),
		systemRoleBinding("system::leader-locking-kube-controller-manager", "system::leader-locking-kube-controller-manager",
			user(ControllerManagerUser), serviceAccount(metav1.NamespaceSystem, "kube-controller-manager"),
			serviceAccount(metav1.NamespaceSystem, "leader-election-controller")),
		systemRoleBinding("system::leader-locking-kube-scheduler", "system::leader-locking-kube-scheduler",
			user(SchedulerUser), serviceAccount(metav1.NamespaceSystem, "kube-scheduler")),
		systemRoleBinding(DNSUser, DNSUser, user(DNSUser)),
		systemRoleBinding(JoinUser, JoinUser, user(JoinUser)),
	}
	for _, name := range slices.Sorted(maps.Keys(controllerSystemRules())) {
		bindings = append(bindings, systemRoleBinding(ControllerRolePrefix+name, ControllerRolePrefix+name,
			serviceAccount(ControllerAccountNamespace, name)))
	}
	return bindings
}

// SystemPolicy returns the Roles and RoleBindings in kube-system every
// cluster starts with.
func SystemPolicy() ([]*rbacv1.Role, []*rbacv1.RoleBinding) {
	return systemRoles(), systemRoleBindings()
}

func systemRole(name string, rules ...rbacv1.PolicyRule) *rbacv1.Role {
	return &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: metav1.NamespaceSystem,
		Labels: bootstrapLabels, Annotations: autoupdate}, Rules: rules}
}

func systemRoleBinding(name, role string, subjects ...rbacv1.Subject) *rbacv1.RoleBinding {
	return &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: metav1.NamespaceSystem,
		Labels: bootstrapLabels, Annotations: autoupdate},
		RoleRef: rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: role}, Subjects: subjects}
}
