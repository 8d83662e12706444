package manager

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"golang.org/x/oauth2"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/transport"
)

// tokenLifetime is how long a controller's token is valid, as upstream's
// controller manager asks for; it is renewed after four fifths of it.
const tokenLifetime = time.Hour

// clients are what one controller talks to the API server with.
type clients struct {
	typed    kubernetes.Interface
	dynamic  dynamic.Interface
	metadata metadata.Interface
}

// newClients builds the three clients of one identity on one HTTP client,
// so that they share its connection. Typed traffic goes as protobuf, the
// cheapest encoding on both ends.
func newClients(rc *rest.Config) (clients, error) {
	hc, err := rest.HTTPClientFor(rc)
	if err != nil {
		return clients{}, err
	}
	prc := rest.CopyConfig(rc)
	prc.ContentType = "application/vnd.kubernetes.protobuf"
	prc.AcceptContentTypes = "application/vnd.kubernetes.protobuf,application/json"
	typed, err := kubernetes.NewForConfigAndClient(prc, hc)
	if err != nil {
		return clients{}, err
	}
	dyn, err := dynamic.NewForConfigAndClient(rc, hc)
	if err != nil {
		return clients{}, err
	}
	md, err := metadata.NewForConfigAndClient(rc, hc)
	if err != nil {
		return clients{}, err
	}
	return clients{typed, dyn, md}, nil
}

// accountConfig returns the client configuration of a controller that acts
// as the ServiceAccount namespace/name: root's server and CA, with none of
// root's credentials, and a bearer token of the account that root
// requests (creating the account if it is missing) when the client first
// needs one, again before it expires, and after a 401.
func accountConfig(root *rest.Config, client kubernetes.Interface, namespace, name string) *rest.Config {
	rc := rest.AnonymousClientConfig(root)
	rc.UserAgent = root.UserAgent + "/" + name
	src := transport.NewCachedTokenSource(&accountTokens{client: client, namespace: namespace, name: name})
	rc.WrapTransport = func(rt http.RoundTripper) http.RoundTripper {
		return transport.ResettableTokenSourceWrapTransport(src)(rt)
	}
	return rc
}

// accountTokens requests tokens of one ServiceAccount with the manager's
// own client (TokenRequest), as upstream's service account credential
// provider does.
type accountTokens struct {
	client          kubernetes.Interface
	namespace, name string
}

var _ oauth2.TokenSource = (*accountTokens)(nil)

// Token returns a fresh token whose Expiry is when to renew it.
func (a *accountTokens) Token() (*oauth2.Token, error) {
	// oauth2 gives no context: bound the requests instead.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	accounts := a.client.CoreV1().ServiceAccounts(a.namespace)
	secs := int64(tokenLifetime / time.Second)
	req := &authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: &secs}}
	start := time.Now() // the token source checks Expiry against it
	got, err := accounts.CreateToken(ctx, a.name, req, metav1.CreateOptions{})
	if apierrors.IsNotFound(err) {
		sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: a.name, Namespace: a.namespace}}
		if _, err := accounts.Create(ctx, sa, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
			return nil, fmt.Errorf("create service account %s/%s: %w", a.namespace, a.name, err)
		}
		got, err = accounts.CreateToken(ctx, a.name, req, metav1.CreateOptions{})
	}
	if err != nil {
		return nil, fmt.Errorf("token for service account %s/%s: %w", a.namespace, a.name, err)
	}
	life := got.Status.ExpirationTimestamp.Sub(start)
	return &oauth2.Token{AccessToken: got.Status.Token, TokenType: "Bearer", Expiry: start.Add(life * 4 / 5)}, nil
}
