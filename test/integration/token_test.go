package integration

import (
	"context"
	"strings"
	"testing"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"

	"skiff/internal/controller/clusterroleaggregation"
	"skiff/internal/server/servertest"
)

func TestServiceAccountToken(t *testing.T) {
	ts := servertest.Start(t, nil)
	// view gets its rules from the aggregation controller, as upstream's.
	ts.RunController(t, clusterroleaggregation.New, nil)
	c := ts.Client
	ctx := context.Background()
	if _, err := c.CoreV1().ServiceAccounts("default").Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "robot"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	pod, err := c.CoreV1().Pods("default").Create(ctx, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "robot-pod"},
		Spec: corev1.PodSpec{ServiceAccountName: "robot", Containers: []corev1.Container{{Name: "c", Image: "busybox"}}}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	tr, err := c.CoreV1().ServiceAccounts("default").CreateToken(ctx, "robot", &authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{
		ExpirationSeconds: ptr.To[int64](3600),
		BoundObjectRef:    &authenticationv1.BoundObjectReference{Kind: "Pod", APIVersion: "v1", Name: "robot-pod", UID: pod.UID},
	}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if tr.Status.Token == "" || tr.Status.ExpirationTimestamp.IsZero() {
		t.Fatalf("token request status: %+v", tr.Status)
	}
	_, err = c.CoreV1().ServiceAccounts("default").CreateToken(ctx, "robot", &authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{
		ExpirationSeconds: ptr.To[int64](60)}}, metav1.CreateOptions{})
	if !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), "less than 10 minutes") {
		t.Errorf("short token: %v", err)
	}

	// The token authenticates as the service account: without RBAC rules
	// it is then forbidden, not unauthorized.
	bearer := rest.AnonymousClientConfig(ts.Config)
	bearer.BearerToken = tr.Status.Token
	bc, err := kubernetes.NewForConfig(bearer)
	if err != nil {
		t.Fatal(err)
	}
	_, err = bc.CoreV1().Pods("default").List(ctx, metav1.ListOptions{})
	if !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), `"system:serviceaccount:default:robot"`) {
		t.Fatalf("list with the token: %v, want Forbidden for the service account", err)
	}
	// Discovery is open to every authenticated caller.
	if _, err := bc.Discovery().ServerVersion(); err != nil {
		t.Errorf("version with the token: %v", err)
	}
	if _, err := bc.Discovery().ServerGroups(); err != nil {
		t.Errorf("discovery with the token: %v", err)
	}
	// Service accounts may read the issuer's discovery documents, which
	// point at the key the token verifies with.
	raw, err := bc.Discovery().RESTClient().Get().AbsPath("/.well-known/openid-configuration").DoRaw(ctx)
	if err != nil || !strings.Contains(string(raw), `"jwks_uri":"https://kubernetes.default.svc.cluster.local/openid/v1/jwks"`) {
		t.Errorf("OIDC discovery with the token: %s %v", raw, err)
	}
	raw, err = bc.Discovery().RESTClient().Get().AbsPath("/openid/v1/jwks").DoRaw(ctx)
	if err != nil || !strings.Contains(string(raw), `"alg":"ES256"`) {
		t.Errorf("JWKS with the token: %s %v", raw, err)
	}
	anon, err := kubernetes.NewForConfig(rest.AnonymousClientConfig(ts.Config))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := anon.Discovery().RESTClient().Get().AbsPath("/openid/v1/jwks").DoRaw(ctx); !apierrors.IsForbidden(err) && !apierrors.IsUnauthorized(err) {
		t.Errorf("JWKS without credentials: %v, want it refused", err)
	}
	// A RoleBinding to the view ClusterRole lets it read pods there, and
	// nothing more.
	rb := &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "robot-view"},
		RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "view"},
		Subjects: []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: "robot"}}}
	if _, err := c.RbacV1().RoleBindings("default").Create(ctx, rb, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	servertest.Wait(t, "view binding takes effect", func(context.Context) (bool, error) {
		_, err := bc.CoreV1().Pods("default").List(ctx, metav1.ListOptions{})
		return err == nil, err
	})
	if _, err := bc.CoreV1().Secrets("default").List(ctx, metav1.ListOptions{}); !apierrors.IsForbidden(err) {
		t.Errorf("view role listing secrets: %v, want Forbidden", err)
	}
	if _, err := bc.CoreV1().Pods("kube-system").List(ctx, metav1.ListOptions{}); !apierrors.IsForbidden(err) {
		t.Errorf("pods in another namespace: %v, want Forbidden", err)
	}
	if err := bc.CoreV1().ConfigMaps("default").Delete(ctx, "x", metav1.DeleteOptions{}); !apierrors.IsForbidden(err) {
		t.Errorf("view role deleting: %v, want Forbidden", err)
	}
	// Once the pod it is bound to is gone, the token no longer works.
	if err := c.CoreV1().Pods("default").Delete(ctx, "robot-pod", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	servertest.Wait(t, "token of a deleted pod rejected", func(context.Context) (bool, error) {
		_, err := bc.CoreV1().Pods("default").List(ctx, metav1.ListOptions{})
		return apierrors.IsUnauthorized(err), err
	})
}
