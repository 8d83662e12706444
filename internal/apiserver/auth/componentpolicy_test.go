package auth

import (
	"context"
	"testing"

	rbacv1 "k8s.io/api/rbac/v1"
)

// bootstrapSource holds the whole bootstrap policy.
func bootstrapSource() fakeSource {
	roles, bindings := BootstrapPolicy()
	sysRoles, sysBindings := SystemPolicy()
	src := fakeSource{clusterRoles: map[string]*rbacv1.ClusterRole{}, roles: map[string]*rbacv1.Role{}, crbs: bindings, rbs: sysBindings}
	for _, r := range roles {
		src.clusterRoles[r.Name] = r
	}
	for _, r := range sysRoles {
		src.roles[r.Namespace+"/"+r.Name] = r
	}
	return src
}

func TestBootstrapBindingsReferToItsRoles(t *testing.T) {
	src := bootstrapSource()
	for _, b := range src.crbs {
		if _, ok := src.clusterRoles[b.RoleRef.Name]; !ok {
			t.Errorf("ClusterRoleBinding %s refers to a missing ClusterRole %s", b.Name, b.RoleRef.Name)
		}
	}
	for _, b := range src.rbs {
		if _, ok := src.roles[b.Namespace+"/"+b.RoleRef.Name]; !ok {
			t.Errorf("RoleBinding %s/%s refers to a missing Role %s", b.Namespace, b.Name, b.RoleRef.Name)
		}
	}
	a := &RBAC{Source: src}
	for _, name := range ControllerAccounts() {
		u := &User{Name: "system:serviceaccount:kube-system:" + name}
		if rules, err := a.RulesFor(u, ControllerAccountNamespace); err != nil || len(rules) == 0 {
			t.Errorf("controller account %s holds no rules (%v)", name, err)
		}
	}
}

// TestComponentRights checks what each component's identity may do under
// the bootstrap policy alone: its own job, and not the rest.
func TestComponentRights(t *testing.T) {
	a := &RBAC{Source: bootstrapSource()}
	authn := []string{GroupAuthenticated}
	sa := func(name string) *User {
		return &User{Name: "system:serviceaccount:kube-system:" + name,
			Groups: []string{"system:serviceaccounts", "system:serviceaccounts:kube-system", GroupAuthenticated}}
	}
	scheduler := &User{Name: SchedulerUser, Groups: authn}
	kcm := &User{Name: ControllerManagerUser, Groups: authn}
	dns := &User{Name: DNSUser, Groups: authn}
	join := &User{Name: JoinUser, Groups: authn}
	proxy := &User{Name: "system:kube-proxy", Groups: authn}
	res := func(u *User, verb, ns, group, resource, sub, name string) Attributes {
		return Attributes{User: u, Verb: verb, Namespace: ns, APIGroup: group, Resource: resource, Subresource: sub, Name: name, ResourceRequest: true}
	}
	tests := []struct {
		name string
		a    Attributes
		want bool
	}{
		{"scheduler binds pods", res(scheduler, "create", "default", "", "pods", "binding", "p"), true},
		{"scheduler holds its lease", res(scheduler, "update", "kube-system", "coordination.k8s.io", "leases", "", "kube-scheduler"), true},
		{"scheduler reads priority classes", res(scheduler, "list", "", "scheduling.k8s.io", "priorityclasses", "", ""), true},
		{"scheduler reads no secrets", res(scheduler, "get", "default", "", "secrets", "", "s"), false},
		{"scheduler creates no pods", res(scheduler, "create", "default", "", "pods", "", ""), false},
		{"scheduler updates kube-system leases, as upstream's leader locking role lets it", res(scheduler, "update", "kube-system", "coordination.k8s.io", "leases", "", "kube-controller-manager"), true},
		{"controller manager watches everything", res(kcm, "watch", "", "apps", "deployments", "", ""), true},
		{"controller manager requests tokens", res(kcm, "create", "kube-system", "", "serviceaccounts", "token", "replicaset-controller"), true},
		{"controller manager creates no pods", res(kcm, "create", "default", "", "pods", "", ""), false},
		{"controller manager deletes no nodes", res(kcm, "delete", "", "", "nodes", "", "n1"), false},
		{"replicaset controller creates pods", res(sa("replicaset-controller"), "create", "default", "", "pods", "", ""), true},
		{"replicaset controller reads no secrets", res(sa("replicaset-controller"), "get", "default", "", "secrets", "", "s"), false},
		{"replicaset controller deletes no deployments", res(sa("replicaset-controller"), "delete", "default", "apps", "deployments", "", "d"), false},
		{"deployment controller writes replicasets", res(sa("deployment-controller"), "patch", "default", "apps", "replicasets", "", "r"), true},
		{"garbage collector deletes anything", res(sa("generic-garbage-collector"), "delete", "default", "", "configmaps", "", "c"), true},
		{"garbage collector creates nothing", res(sa("generic-garbage-collector"), "create", "default", "", "configmaps", "", ""), false},
		{"namespace controller finalizes", res(sa("namespace-controller"), "update", "", "", "namespaces", "finalize", "ns"), true},
		{"aggregation controller may escalate cluster roles", res(sa("clusterrole-aggregation-controller"), "escalate", "", rbacv1.GroupName, "clusterroles", "", "admin"), true},
		{"aggregation controller binds nothing", res(sa("clusterrole-aggregation-controller"), "create", "", rbacv1.GroupName, "clusterrolebindings", "", ""), false},
		{"token cleaner deletes kube-system secrets", res(sa("token-cleaner"), "delete", "kube-system", "", "secrets", "", "bootstrap-token-x"), true},
		{"token cleaner touches no other namespace", res(sa("token-cleaner"), "delete", "default", "", "secrets", "", "s"), false},
		{"node password controller deletes kube-system secrets", res(sa("node-password-controller"), "delete", "kube-system", "", "secrets", "", "n.node-password.skiff"), true},
		{"node password controller reads no secret by name", res(sa("node-password-controller"), "get", "kube-system", "", "secrets", "", "n.node-password.skiff"), false},
		{"service controller writes service status", res(sa("service-controller"), "patch", "default", "", "services", "status", "lb"), true},
		{"service controller writes no service", res(sa("service-controller"), "update", "default", "", "services", "", "lb"), false},
		{"dns watches nodes", res(dns, "watch", "", "", "nodes", "", ""), true},
		{"dns publishes its slice", res(dns, "update", "kube-system", "discovery.k8s.io", "endpointslices", "", "kube-dns-skiff"), true},
		{"dns writes no other slice", res(dns, "update", "default", "discovery.k8s.io", "endpointslices", "", "web"), false},
		{"dns reads no secrets", res(dns, "list", "", "", "secrets", "", ""), false},
		{"join creates kube-system secrets", res(join, "create", "kube-system", "", "secrets", "", ""), true},
		{"join reads no secrets", res(join, "get", "kube-system", "", "secrets", "", "bootstrap-token-x"), false},
		{"join creates nothing elsewhere", res(join, "create", "default", "", "secrets", "", ""), false},
		{"proxy watches slices", res(proxy, "watch", "", "discovery.k8s.io", "endpointslices", "", ""), true},
		{"proxy writes no services", res(proxy, "update", "default", "", "services", "", "s"), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, _, err := a.Authorize(context.Background(), tt.a)
			if err != nil || got != tt.want {
				t.Errorf("Authorize = %v, %v; want %v", got, err, tt.want)
			}
		})
	}
}
