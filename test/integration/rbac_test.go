package integration

import (
	"context"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"skiff/internal/controller/clusterroleaggregation"
	"skiff/internal/server/servertest"
)

// impersonating returns a client of ts acting as user, who is in
// system:authenticated only.
func impersonating(t *testing.T, ts *servertest.Server, user string) kubernetes.Interface {
	t.Helper()
	cfg := rest.CopyConfig(ts.Config)
	cfg.Impersonate = rest.ImpersonationConfig{UserName: user}
	c, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func mustCreate[T any](t *testing.T, create func(context.Context, T, metav1.CreateOptions) (T, error), obj T) {
	t.Helper()
	if _, err := create(context.Background(), obj, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

func clusterRoleRef(name string) rbacv1.RoleRef {
	return rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: name}
}

func userSubject(name string) []rbacv1.Subject {
	return []rbacv1.Subject{{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: name}}
}

// wantEscalation checks err is upstream's 403 for a grant not held.
func wantEscalation(t *testing.T, what string, err error) {
	t.Helper()
	if !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), "is attempting to grant RBAC permissions not currently held") {
		t.Fatalf("%s: %v, want Forbidden for escalation", what, err)
	}
}

// TestBindEscalation: a user who may create RoleBindings cannot bind
// cluster-admin until granted bind on that ClusterRole, and even then
// no other role it does not hold; a role whose rules it holds it may bind.
func TestBindEscalation(t *testing.T) {
	ts := servertest.Start(t, nil)
	ctx := context.Background()
	admin := ts.Client.RbacV1()
	mustCreate(t, ts.Client.CoreV1().Namespaces().Create, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "team"}})
	mustCreate(t, admin.ClusterRoles().Create, &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: "binder"}, Rules: []rbacv1.PolicyRule{
		{Verbs: []string{"create"}, APIGroups: []string{rbacv1.GroupName}, Resources: []string{"rolebindings"}},
		{Verbs: []string{"get", "list"}, APIGroups: []string{""}, Resources: []string{"pods"}},
	}})
	mustCreate(t, admin.ClusterRoles().Create, &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: "pod-reader"}, Rules: []rbacv1.PolicyRule{
		{Verbs: []string{"get"}, APIGroups: []string{""}, Resources: []string{"pods"}},
	}})
	mustCreate(t, admin.RoleBindings("team").Create, &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "bob-binder"},
		RoleRef: clusterRoleRef("binder"), Subjects: userSubject("bob")})
	bob := impersonating(t, ts, "bob").RbacV1().RoleBindings("team")
	bind := func(name, role string) error {
		_, err := bob.Create(ctx, &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: name}, RoleRef: clusterRoleRef(role),
			Subjects: userSubject("mallory")}, metav1.CreateOptions{})
		return err
	}
	servertest.Wait(t, "bob to bind a role he holds", func(context.Context) (bool, error) {
		return bind("reader", "pod-reader") == nil, nil
	})

	err := bind("root", "cluster-admin")
	wantEscalation(t, "binding cluster-admin", err)
	want := `rolebindings.rbac.authorization.k8s.io "root" is forbidden: user "bob" (groups=["system:authenticated"]) is attempting to grant RBAC permissions not currently held:
{APIGroups:["*"], Resources:["*"], Verbs:["*"]}
{NonResourceURLs:["*"], Verbs:["*"]}`
	if err.Error() != want {
		t.Errorf("message:\n%s\nwant:\n%s", err, want)
	}
	if err := bind("ghost", "no-such-role"); !apierrors.IsNotFound(err) {
		t.Errorf("binding a missing role: %v, want NotFound", err)
	}

	// bind on clusterroles/cluster-admin, in team only.
	mustCreate(t, admin.ClusterRoles().Create, &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: "bind-cluster-admin"}, Rules: []rbacv1.PolicyRule{
		{Verbs: []string{"bind"}, APIGroups: []string{rbacv1.GroupName}, Resources: []string{"clusterroles"}, ResourceNames: []string{"cluster-admin"}},
	}})
	mustCreate(t, admin.RoleBindings("team").Create, &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "bob-bind-ca"},
		RoleRef: clusterRoleRef("bind-cluster-admin"), Subjects: userSubject("bob")})
	servertest.Wait(t, "bob to bind cluster-admin", func(context.Context) (bool, error) {
		err := bind("root", "cluster-admin")
		return err == nil, nil
	})
	wantEscalation(t, "binding another role, not named in bind", bind("other", "system:aggregate-to-edit"))
}

// TestRoleEscalation: a user who may update ClusterRoles cannot add rules
// it does not hold, by update or by patch, until granted escalate.
func TestRoleEscalation(t *testing.T) {
	ts := servertest.Start(t, nil)
	ctx := context.Background()
	admin := ts.Client.RbacV1()
	mustCreate(t, admin.ClusterRoles().Create, &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: "role-editor"}, Rules: []rbacv1.PolicyRule{
		{Verbs: []string{"get", "update", "patch", "create"}, APIGroups: []string{rbacv1.GroupName}, Resources: []string{"clusterroles"}},
		{Verbs: []string{"get", "list"}, APIGroups: []string{""}, Resources: []string{"pods"}},
	}})
	mustCreate(t, admin.ClusterRoleBindings().Create, &rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "carol-role-editor"},
		RoleRef: clusterRoleRef("role-editor"), Subjects: userSubject("carol")})
	mustCreate(t, admin.ClusterRoles().Create, &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: "custom"}, Rules: []rbacv1.PolicyRule{
		{Verbs: []string{"get"}, APIGroups: []string{""}, Resources: []string{"pods"}},
	}})
	carol := impersonating(t, ts, "carol").RbacV1().ClusterRoles()
	star := rbacv1.PolicyRule{Verbs: []string{"*"}, APIGroups: []string{"*"}, Resources: []string{"*"}}
	update := func(rules ...rbacv1.PolicyRule) error {
		r, err := carol.Get(ctx, "custom", metav1.GetOptions{})
		if err != nil {
			return err
		}
		r.Rules = append(r.Rules, rules...)
		_, err = carol.Update(ctx, r, metav1.UpdateOptions{})
		return err
	}
	servertest.Wait(t, "carol to add a rule she holds", func(context.Context) (bool, error) {
		return update(rbacv1.PolicyRule{Verbs: []string{"list"}, APIGroups: []string{""}, Resources: []string{"pods"}}) == nil, nil
	})
	wantEscalation(t, "update adding *", update(star))
	_, err := carol.Patch(ctx, "custom", types.JSONPatchType, []byte(`[{"op":"add","path":"/rules/-","value":{"verbs":["*"],"apiGroups":["*"],"resources":["*"]}}]`), metav1.PatchOptions{})
	wantEscalation(t, "json patch adding *", err)
	_, err = carol.Create(ctx, &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: "mine"}, Rules: []rbacv1.PolicyRule{star}}, metav1.CreateOptions{})
	wantEscalation(t, "create with *", err)
	_, err = carol.Create(ctx, &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: "gather"}, AggregationRule: &rbacv1.AggregationRule{
		ClusterRoleSelectors: []metav1.LabelSelector{{MatchLabels: map[string]string{"x": "y"}}}}}, metav1.CreateOptions{})
	if !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), "must have cluster-admin privileges to use the aggregationRule") {
		t.Errorf("aggregationRule: %v, want Forbidden", err)
	}
	// Labels and the like change freely.
	r, err := carol.Get(ctx, "custom", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	r.Labels = map[string]string{"team": "a"}
	if _, err := carol.Update(ctx, r, metav1.UpdateOptions{}); err != nil {
		t.Errorf("relabelling a role she holds: %v", err)
	}

	mustCreate(t, admin.ClusterRoles().Create, &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: "escalator"}, Rules: []rbacv1.PolicyRule{
		{Verbs: []string{"escalate"}, APIGroups: []string{rbacv1.GroupName}, Resources: []string{"clusterroles"}},
	}})
	mustCreate(t, admin.ClusterRoleBindings().Create, &rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "carol-escalator"},
		RoleRef: clusterRoleRef("escalator"), Subjects: userSubject("carol")})
	servertest.Wait(t, "carol to add * with escalate", func(context.Context) (bool, error) {
		return update(star) == nil, nil
	})
}

// editCheck is one thing a user tries, and whether upstream's edit role
// lets it.
type editCheck struct {
	name  string
	do    func(ctx context.Context, c kubernetes.Interface) error
	allow bool
}

func editChecks() []editCheck {
	meta := func(name string) metav1.ObjectMeta { return metav1.ObjectMeta{Name: name} }
	create := metav1.CreateOptions{}
	list := metav1.ListOptions{}
	one := int32(1)
	return []editCheck{
		{"create configmap", func(ctx context.Context, c kubernetes.Interface) error {
			_, err := c.CoreV1().ConfigMaps("team").Create(ctx, &corev1.ConfigMap{ObjectMeta: meta("cm")}, create)
			return err
		}, true},
		{"create and read secret", func(ctx context.Context, c kubernetes.Interface) error {
			if _, err := c.CoreV1().Secrets("team").Create(ctx, &corev1.Secret{ObjectMeta: meta("s")}, create); err != nil {
				return err
			}
			_, err := c.CoreV1().Secrets("team").Get(ctx, "s", metav1.GetOptions{})
			return err
		}, true},
		{"create deployment", func(ctx context.Context, c kubernetes.Interface) error {
			_, err := c.AppsV1().Deployments("team").Create(ctx, &appsv1.Deployment{ObjectMeta: meta("web"), Spec: appsv1.DeploymentSpec{
				Replicas: &one, Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
				Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web"}},
					Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "nginx"}}}}}}, create)
			return err
		}, true},
		{"list pods", func(ctx context.Context, c kubernetes.Interface) error {
			_, err := c.CoreV1().Pods("team").List(ctx, list)
			return err
		}, true},
		{"create lease", func(ctx context.Context, c kubernetes.Interface) error {
			_, err := c.CoordinationV1().Leases("team").Create(ctx, &coordinationv1.Lease{ObjectMeta: meta("l")}, create)
			return err
		}, true},
		{"read own namespace", func(ctx context.Context, c kubernetes.Interface) error {
			_, err := c.CoreV1().Namespaces().Get(ctx, "team", metav1.GetOptions{})
			return err
		}, true},
		{"create role", func(ctx context.Context, c kubernetes.Interface) error {
			_, err := c.RbacV1().Roles("team").Create(ctx, &rbacv1.Role{ObjectMeta: meta("r")}, create)
			return err
		}, false},
		{"create rolebinding to view", func(ctx context.Context, c kubernetes.Interface) error {
			_, err := c.RbacV1().RoleBindings("team").Create(ctx, &rbacv1.RoleBinding{ObjectMeta: meta("rb"), RoleRef: clusterRoleRef("view"),
				Subjects: userSubject("someone")}, create)
			return err
		}, false},
		{"create resourcequota", func(ctx context.Context, c kubernetes.Interface) error {
			_, err := c.CoreV1().ResourceQuotas("team").Create(ctx, &corev1.ResourceQuota{ObjectMeta: meta("q")}, create)
			return err
		}, false},
		{"create limitrange", func(ctx context.Context, c kubernetes.Interface) error {
			_, err := c.CoreV1().LimitRanges("team").Create(ctx, &corev1.LimitRange{ObjectMeta: meta("l")}, create)
			return err
		}, false},
		{"patch deployment status", func(ctx context.Context, c kubernetes.Interface) error {
			_, err := c.AppsV1().Deployments("team").Patch(ctx, "web", types.MergePatchType, []byte(`{"status":{"replicas":3}}`), metav1.PatchOptions{}, "status")
			return err
		}, false},
		{"list configmaps in another namespace", func(ctx context.Context, c kubernetes.Interface) error {
			_, err := c.CoreV1().ConfigMaps("default").List(ctx, list)
			return err
		}, false},
		{"list nodes", func(ctx context.Context, c kubernetes.Interface) error {
			_, err := c.CoreV1().Nodes().List(ctx, list)
			return err
		}, false},
		{"delete namespace", func(ctx context.Context, c kubernetes.Interface) error {
			return c.CoreV1().Namespaces().Delete(ctx, "team", metav1.DeleteOptions{DryRun: []string{metav1.DryRunAll}})
		}, false},
	}
}

// TestEditRole binds upstream's edit ClusterRole to a user in one
// namespace and tries what edit allows and what it does not.
func TestEditRole(t *testing.T) {
	ts := servertest.Start(t, nil)
	ts.RunController(t, clusterroleaggregation.New, nil)
	ctx := context.Background()
	mustCreate(t, ts.Client.CoreV1().Namespaces().Create, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "team"}})
	mustCreate(t, ts.Client.RbacV1().RoleBindings("team").Create, &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "ed-edit"},
		RoleRef: clusterRoleRef("edit"), Subjects: userSubject("ed")})
	ed := impersonating(t, ts, "ed")
	servertest.Wait(t, "ed to list configmaps through edit", func(context.Context) (bool, error) {
		_, err := ed.CoreV1().ConfigMaps("team").List(ctx, metav1.ListOptions{})
		return err == nil, nil
	})
	for _, c := range editChecks() {
		err := c.do(ctx, ed)
		allowed := !apierrors.IsForbidden(err)
		t.Logf("edit user: %-40s forbidden=%v", c.name, !allowed)
		if allowed != c.allow || (allowed && err != nil) {
			t.Errorf("%s: %v, want allowed=%v", c.name, err, c.allow)
		}
	}
	// A namespace admin may hand out edit there, which it holds through
	// admin's aggregation, but not cluster-admin.
	mustCreate(t, ts.Client.RbacV1().RoleBindings("team").Create, &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "ada-admin"},
		RoleRef: clusterRoleRef("admin"), Subjects: userSubject("ada")})
	ada := impersonating(t, ts, "ada").RbacV1().RoleBindings("team")
	grant := func(name, role string) error {
		_, err := ada.Create(ctx, &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: name}, RoleRef: clusterRoleRef(role),
			Subjects: userSubject("newcomer")}, metav1.CreateOptions{})
		return err
	}
	servertest.Wait(t, "ada to grant edit in team", func(context.Context) (bool, error) {
		return grant("newcomer-edit", "edit") == nil, nil
	})
	wantEscalation(t, "admin granting cluster-admin", grant("newcomer-root", "cluster-admin"))

	// Impersonating a service account of the namespace is edit's, as
	// upstream's: ask the server, since a client cannot impersonate twice.
	sar, err := ts.Client.AuthorizationV1().SubjectAccessReviews().Create(ctx, &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{
		User: "ed", Groups: []string{"system:authenticated"},
		ResourceAttributes: &authorizationv1.ResourceAttributes{Verb: "impersonate", Resource: "serviceaccounts", Namespace: "team", Name: "default"},
	}}, metav1.CreateOptions{})
	if err != nil || !sar.Status.Allowed {
		t.Errorf("ed impersonating team/default: %+v %v, want allowed", sar.Status, err)
	}
}
