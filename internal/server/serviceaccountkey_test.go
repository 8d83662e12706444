package server_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"skiff/internal/apiserver/auth"
	"skiff/internal/server"
	"skiff/internal/server/servertest"
)

// startWithIssuer starts a server whose service account issuer is its own
// URL, so that OIDC clients find the discovery document at the issuer.
func startWithIssuer(t *testing.T) (*servertest.Server, string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	_ = ln.Close()
	issuer := "https://127.0.0.1:" + strconv.Itoa(port)
	ts := servertest.Start(t, func(c *server.Config) {
		c.HTTPSPort = port
		c.ServiceAccountIssuer = issuer
	})
	return ts, issuer
}

// anonymousHTTP is an HTTP client that trusts the server's CA and sends
// no credentials, as an outside OIDC verifier.
func anonymousHTTP(t *testing.T, rc *rest.Config) *http.Client {
	t.Helper()
	tlsCfg, err := rest.TLSConfigFor(&rest.Config{TLSClientConfig: rest.TLSClientConfig{CAFile: rc.CAFile, CAData: rc.CAData}})
	if err != nil {
		t.Fatal(err)
	}
	tr := &http.Transport{TLSClientConfig: tlsCfg}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr}
}

func saToken(t *testing.T, c kubernetes.Interface, audience string) string {
	t.Helper()
	tr, err := c.CoreV1().ServiceAccounts("default").CreateToken(context.Background(), "robot", &authenticationv1.TokenRequest{
		Spec: authenticationv1.TokenRequestSpec{Audiences: []string{audience}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("token request: %v", err)
	}
	return tr.Status.Token
}

// TestServiceAccountKeyRotationOIDC checks service account tokens the way
// an outside party does, with a standard OIDC client library: discovery
// from the issuer URL, keys from the JWKS, signature, issuer and audience;
// and that after `skiff service-account rotate-key` tokens signed with the
// old key still verify, for go-oidc and for the API server itself.
func TestServiceAccountKeyRotationOIDC(t *testing.T) {
	ts, issuer := startWithIssuer(t)
	ctx := context.Background()
	hc := anonymousHTTP(t, ts.Config)

	// As upstream: the discovery documents are not public until an admin
	// binds system:service-account-issuer-discovery to
	// system:unauthenticated.
	resp, err := hc.Get(issuer + "/.well-known/openid-configuration")
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("anonymous discovery without a binding: %d, want 403", resp.StatusCode)
	}
	if _, err := ts.Client.RbacV1().ClusterRoleBindings().Create(ctx, &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "oidc-reviewer"},
		RoleRef:    rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: "system:service-account-issuer-discovery"},
		Subjects:   []rbacv1.Subject{{Kind: "Group", APIGroup: "rbac.authorization.k8s.io", Name: "system:unauthenticated"}},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := ts.Client.CoreV1().ServiceAccounts("default").Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "robot"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	octx := oidc.ClientContext(ctx, hc)
	var provider *oidc.Provider
	servertest.Wait(t, "discovery document readable anonymously", func(context.Context) (bool, error) {
		provider, err = oidc.NewProvider(octx, issuer)
		return err == nil, nil
	})
	verifier := provider.Verifier(&oidc.Config{ClientID: "vault"})

	oldToken := saToken(t, ts.Client, "vault")
	idt, err := verifier.Verify(octx, oldToken)
	if err != nil {
		t.Fatalf("verify token: %v", err)
	}
	if idt.Subject != "system:serviceaccount:default:robot" || idt.Issuer != issuer {
		t.Fatalf("token subject %q issuer %q", idt.Subject, idt.Issuer)
	}
	if _, err := provider.Verifier(&oidc.Config{ClientID: "someone-else"}).Verify(octx, oldToken); err == nil {
		t.Fatal("token verified for an audience it was not issued for")
	}

	apiOld := saToken(t, ts.Client, issuer)
	// Only admins rotate.
	robot := ts.ClientFor(t, func(rc *rest.Config) {
		rc.CertFile, rc.KeyFile, rc.CertData, rc.KeyData = "", "", nil, nil
		rc.BearerToken = apiOld
	})
	if _, err := server.RotateServiceAccountKey(ctx, robot); !apierrors.IsForbidden(err) {
		t.Fatalf("rotate as a service account: %v, want Forbidden", err)
	}
	if err := ts.Client.CoreV1().RESTClient().Get().AbsPath(server.ServiceAccountKeyRotatePath).Do(ctx).Error(); !apierrors.IsMethodNotSupported(err) {
		t.Errorf("GET rotate: %v, want 405 MethodNotAllowed", err)
	}
	kid, err := server.RotateServiceAccountKey(ctx, ts.Client)
	if err != nil {
		t.Fatalf("rotate: %v", err)
	}
	newToken := saToken(t, ts.Client, "vault")
	for name, tok := range map[string]string{"old": oldToken, "new": newToken} {
		if _, err := verifier.Verify(octx, tok); err != nil {
			t.Errorf("verify %s token after rotation: %v", name, err)
		}
	}
	if header := jwtHeader(t, newToken); header.Kid != kid {
		t.Errorf("new token kid %q, want the rotated key's %q", header.Kid, kid)
	}
	if jwtHeader(t, oldToken).Kid == kid {
		t.Error("old and new keys share a kid")
	}

	resp, err = hc.Get(issuer + "/openid/v1/jwks")
	if err != nil {
		t.Fatal(err)
	}
	var jwks struct {
		Keys []struct {
			Kid string `json:"kid"`
		} `json:"keys"`
	}
	err = json.NewDecoder(resp.Body).Decode(&jwks)
	_ = resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	if len(jwks.Keys) != 2 || jwks.Keys[0].Kid != kid || jwks.Keys[1].Kid != jwtHeader(t, oldToken).Kid {
		t.Errorf("JWKS keys %+v, want the new key then the old one", jwks.Keys)
	}

	// The API server itself accepts both; its audience is the issuer.
	for name, tok := range map[string]string{"old": apiOld, "new": saToken(t, ts.Client, issuer)} {
		if user, err := whoamiWithToken(t, ts, tok); err != nil || user != "system:serviceaccount:default:robot" {
			t.Errorf("%s token against the API server: %q, %v", name, user, err)
		}
	}

	// A token whose signature does not verify fails with 401.
	good := saToken(t, ts.Client, issuer)
	if _, err := whoamiWithToken(t, ts, good[:len(good)-4]+"AAAA"); !apierrors.IsUnauthorized(err) {
		t.Errorf("tampered token: %v, want 401", err)
	}
}

type jwsHeader struct {
	Alg string `json:"alg"`
	Kid string `json:"kid"`
}

func jwtHeader(t *testing.T, token string) jwsHeader {
	t.Helper()
	raw, err := base64.RawURLEncoding.DecodeString(strings.Split(token, ".")[0])
	if err != nil {
		t.Fatal(err)
	}
	var h jwsHeader
	if err := json.Unmarshal(raw, &h); err != nil {
		t.Fatal(err)
	}
	return h
}

// whoamiWithToken returns the username a bearer token authenticates as.
func whoamiWithToken(t *testing.T, ts *servertest.Server, token string) (string, error) {
	t.Helper()
	c := ts.ClientFor(t, func(rc *rest.Config) {
		rc.CertFile, rc.KeyFile, rc.CertData, rc.KeyData = "", "", nil, nil
		rc.BearerToken = token
	})
	r, err := c.AuthenticationV1().SelfSubjectReviews().Create(context.Background(), &authenticationv1.SelfSubjectReview{}, metav1.CreateOptions{})
	if err != nil {
		return "", err
	}
	return r.Status.UserInfo.Username, nil
}

// TestServiceAccountKeysAcrossRestart checks that a rotated key still
// verifies after a restart (it is kept in <data-dir>/tls/sa-verify), and
// that --service-account-key-file adds a verification-only key: tokens
// another server signed with it authenticate, and the JWKS lists it.
func TestServiceAccountKeysAcrossRestart(t *testing.T) {
	ctx := context.Background()
	ts := servertest.Start(t, nil)
	if _, err := ts.Client.CoreV1().ServiceAccounts("default").Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "robot"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	issuer := "https://kubernetes.default.svc.cluster.local"
	old := saToken(t, ts.Client, issuer)
	if _, err := server.RotateServiceAccountKey(ctx, ts.Client); err != nil {
		t.Fatal(err)
	}
	ts.Close()

	// A key of another server sharing the issuer name.
	other, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKIXPublicKey(other.Public())
	if err != nil {
		t.Fatal(err)
	}
	keyFile := filepath.Join(t.TempDir(), "other-sa.pub")
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
	otherTokens, err := auth.NewTokens(other, issuer)
	if err != nil {
		t.Fatal(err)
	}
	foreign, _, err := otherTokens.Issue(auth.TokenRequest{Namespace: "default", ServiceAccount: "robot", Audiences: []string{issuer}, Expiration: time.Hour})
	if err != nil {
		t.Fatal(err)
	}

	again := servertest.Start(t, func(c *server.Config) {
		c.DataDir = ts.DataDir
		c.ServiceAccountKeyFiles = []string{keyFile}
	})
	for name, tok := range map[string]string{"rotated-out key": old, "--service-account-key-file key": foreign} {
		if user, err := whoamiWithToken(t, again, tok); err != nil || user != "system:serviceaccount:default:robot" {
			t.Errorf("token of the %s after restart: %q, %v", name, user, err)
		}
	}
	raw, err := again.Client.CoreV1().RESTClient().Get().AbsPath("/openid/v1/jwks").DoRaw(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var jwks struct {
		Keys []struct {
			Kid string `json:"kid"`
		} `json:"keys"`
	}
	if err := json.Unmarshal(raw, &jwks); err != nil {
		t.Fatal(err)
	}
	otherKid, _ := auth.KeyID(other.Public())
	kids := map[string]bool{}
	for _, k := range jwks.Keys {
		kids[k.Kid] = true
	}
	if len(jwks.Keys) != 3 || len(kids) != 3 || !kids[jwtHeader(t, old).Kid] || !kids[otherKid] {
		t.Errorf("JWKS kids %v: want the signing key, the rotated-out one and --service-account-key-file's", kids)
	}
}
