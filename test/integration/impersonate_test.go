package integration

import (
	"context"
	"strings"
	"testing"

	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"skiff/internal/controller/clusterroleaggregation"
	"skiff/internal/server/servertest"
)

// TestImpersonation checks kubectl --as: an admin acting as a service
// account gets exactly that account's rights (as a SubjectAccessReview
// predicts), and a caller without the impersonate verb is refused.
func TestImpersonation(t *testing.T) {
	ts := servertest.Start(t, nil)
	// view gets its rules from the aggregation controller, as upstream's.
	ts.RunController(t, clusterroleaggregation.New, nil)
	ctx := context.Background()
	as := func(user string, groups ...string) kubernetes.Interface {
		cfg := rest.CopyConfig(ts.Config)
		cfg.Impersonate = rest.ImpersonationConfig{UserName: user, Groups: groups}
		c, err := kubernetes.NewForConfig(cfg)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	if _, err := ts.Client.CoreV1().ServiceAccounts("default").Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "robot"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	robot := as("system:serviceaccount:default:robot")
	sar, err := ts.Client.AuthorizationV1().SubjectAccessReviews().Create(ctx, &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{
		User: "system:serviceaccount:default:robot", Groups: []string{"system:authenticated", "system:serviceaccounts", "system:serviceaccounts:default"},
		ResourceAttributes: &authorizationv1.ResourceAttributes{Verb: "list", Resource: "configmaps", Namespace: "default", Version: "v1"},
	}}, metav1.CreateOptions{})
	if err != nil || sar.Status.Allowed {
		t.Fatalf("review for the robot: %+v %v, want denied", sar.Status, err)
	}
	if _, err := robot.CoreV1().ConfigMaps("default").List(ctx, metav1.ListOptions{}); !apierrors.IsForbidden(err) ||
		!strings.Contains(err.Error(), `User "system:serviceaccount:default:robot" cannot list resource "configmaps"`) {
		t.Fatalf("list as the robot: %v, want Forbidden for it", err)
	}
	// Its groups come with it: a binding to system:serviceaccounts counts.
	if _, err := ts.Client.RbacV1().RoleBindings("default").Create(ctx, &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "sa-view"},
		RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "view"},
		Subjects: []rbacv1.Subject{{Kind: rbacv1.GroupKind, APIGroup: rbacv1.GroupName, Name: "system:serviceaccounts"}}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	servertest.Wait(t, "the robot listing through its group", func(context.Context) (bool, error) {
		_, err := robot.CoreV1().ConfigMaps("default").List(ctx, metav1.ListOptions{})
		return err == nil, nil
	})

	// The robot itself may not impersonate anybody.
	tr, err := ts.Client.CoreV1().ServiceAccounts("default").CreateToken(ctx, "robot", &authenticationv1.TokenRequest{}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cfg := rest.AnonymousClientConfig(ts.Config)
	cfg.BearerToken = tr.Status.Token
	cfg.Impersonate = rest.ImpersonationConfig{UserName: "admin", Groups: []string{"system:masters"}}
	escalate, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	_, err = escalate.CoreV1().Secrets("default").List(ctx, metav1.ListOptions{})
	if !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), `users "admin" is forbidden: User "system:serviceaccount:default:robot" cannot impersonate resource "users"`) {
		t.Fatalf("impersonation by the robot: %v, want Forbidden", err)
	}
}
