package server_test

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	authnv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"skiff/internal/controller/nodepassword"
	"skiff/internal/controller/tokencleaner"
	"skiff/internal/node"
	"skiff/internal/pki"
	"skiff/internal/server"
	"skiff/internal/server/servertest"
	"skiff/internal/testobj"
)

// TestNodeIdentity joins nodes to a real server with bootstrap tokens and
// the static token: a name belongs to the host that joined with it until
// its Node is deleted, expired bootstrap tokens are refused and cleaned up,
// a rotated static token replaces the old one at once, and a node renews
// its own certificates with them.
func TestNodeIdentity(t *testing.T) {
	ts := servertest.Start(t, nil)
	ts.RunController(t, nodepassword.New, nil)
	ts.RunController(t, tokencleaner.New, nil)
	ctx := t.Context()
	caPEM := readFile(t, filepath.Join(ts.DataDir, "tls", "ca.crt"))

	token, err := server.CreateBootstrapToken(ctx, ts.Client, caPEM, server.BootstrapTokenOptions{TTL: time.Hour, Description: "for a"})
	if err != nil {
		t.Fatal(err)
	}
	join := func(name, dir, ip string, tok pki.JoinToken) (*node.Joined, error) {
		return node.Join(ctx, node.JoinConfig{Server: ts.URL(), Token: tok.String(), DataDir: dir, NodeName: name,
			NodeIP: net.ParseIP(ip), Logger: servertest.Logger()})
	}
	dirA := t.TempDir()
	a, err := join("a", dirA, "192.0.2.5", token)
	if err != nil {
		t.Fatalf("join with a bootstrap token: %v", err)
	}
	if _, err := ts.Client.CoreV1().Secrets("kube-system").Get(ctx, nodepassword.SecretName("a"), metav1.GetOptions{}); err != nil {
		t.Fatalf("a's node password: %v", err)
	}

	// The bootstrap token authenticates as system:bootstrap:<id>.
	id, _, _ := strings.Cut(token.Secret, ".")
	bearer := func(secret string) kubernetes.Interface {
		c, err := kubernetes.NewForConfig(&rest.Config{Host: ts.URL(), BearerToken: secret,
			TLSClientConfig: rest.TLSClientConfig{CAData: caPEM}})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	review, err := bearer(token.Secret).AuthenticationV1().SelfSubjectReviews().Create(ctx, selfReview(), metav1.CreateOptions{})
	if err != nil || review.Status.UserInfo.Username != "system:bootstrap:"+id {
		t.Errorf("whoami with the bootstrap token: %v %v", review, err)
	}

	// Another host cannot take a's name, whatever its token.
	if _, err := join("a", t.TempDir(), "192.0.2.6", token); err == nil || !strings.Contains(err.Error(), "403") {
		t.Errorf("a second host joining as a: %v", err)
	}
	// Nor can a node name itself after the API server or claim its addresses.
	if _, err := join("kubernetes.default.svc", t.TempDir(), "192.0.2.7", token); err == nil || !strings.Contains(err.Error(), "403") {
		t.Errorf("a node named kubernetes.default.svc: %v", err)
	}
	if _, err := join("c", t.TempDir(), "10.43.0.1", token); err == nil || !strings.Contains(err.Error(), "403") {
		t.Errorf("a node claiming the first service IP: %v", err)
	}
	// An expired bootstrap token is refused, by the join and by the API,
	// and the token cleaner deletes it.
	expired := pki.JoinToken{CAHash: token.CAHash, Secret: "oldtok.0123456789abcdef"}
	_, err = ts.Client.CoreV1().Secrets("kube-system").Create(ctx, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "bootstrap-token-oldtok"}, Type: pki.BootstrapTokenSecretType,
		Data: map[string][]byte{"token-id": []byte("oldtok"), "token-secret": []byte("0123456789abcdef"),
			"usage-bootstrap-authentication": []byte("true"), "expiration": []byte(time.Now().Add(-time.Minute).UTC().Format(time.RFC3339))},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := join("d", t.TempDir(), "192.0.2.8", expired); err == nil || !strings.Contains(err.Error(), "401") {
		t.Errorf("join with an expired bootstrap token: %v", err)
	}
	if _, err := bearer(expired.Secret).CoreV1().Namespaces().List(ctx, metav1.ListOptions{}); !apierrors.IsUnauthorized(err) {
		t.Errorf("the API with an expired bootstrap token: %v, want 401", err)
	}
	servertest.Wait(t, "the expired bootstrap token deleted", func(ctx context.Context) (bool, error) {
		_, err := ts.Client.CoreV1().Secrets("kube-system").Get(ctx, "bootstrap-token-oldtok", metav1.GetOptions{})
		return apierrors.IsNotFound(err), nil
	})
	tokens, err := server.ListBootstrapTokens(ctx, ts.Client)
	if err != nil || len(tokens) != 1 || tokens[0].Token != token.Secret || tokens[0].Description != "for a" || tokens[0].Expires == nil {
		t.Errorf("list: %+v %v", tokens, err)
	}
	if err := server.DeleteBootstrapToken(ctx, ts.Client, token.String()); err != nil {
		t.Fatal(err)
	}
	if _, err := join("e", t.TempDir(), "192.0.2.9", token); err == nil || !strings.Contains(err.Error(), "401") {
		t.Errorf("join with a deleted bootstrap token: %v", err)
	}

	// The static token rotates: the old one stops, the new one joins.
	static, err := pki.ParseJoinToken(string(readFile(t, filepath.Join(ts.DataDir, "node-token"))))
	if err != nil {
		t.Fatal(err)
	}
	rotated, err := server.RotateJoinToken(ts.DataDir, "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := join("f", t.TempDir(), "192.0.2.11", static); err == nil || !strings.Contains(err.Error(), "401") {
		t.Errorf("join with the token before rotation: %v", err)
	}
	dirF := t.TempDir()
	f, err := join("f", dirF, "192.0.2.10", rotated)
	if err != nil {
		t.Fatalf("join with the rotated token: %v", err)
	}

	// Once a's Node is deleted, its name is free for a new host.
	if _, err := ts.Client.CoreV1().Nodes().Create(ctx, testobj.Node("a").InternalIP("192.0.2.5").Obj(), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := join("g", t.TempDir(), "192.0.2.5", rotated); err == nil || !strings.Contains(err.Error(), "403") {
		t.Errorf("a node claiming a's address: %v", err)
	}
	if err := ts.Client.CoreV1().Nodes().Delete(ctx, "a", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	servertest.Wait(t, "a's node password removed with its Node", func(ctx context.Context) (bool, error) {
		_, err := ts.Client.CoreV1().Secrets("kube-system").Get(ctx, nodepassword.SecretName("a"), metav1.GetOptions{})
		return apierrors.IsNotFound(err), nil
	})
	if _, err := join("a", t.TempDir(), "192.0.2.6", rotated); err != nil {
		t.Errorf("a new host joining as a after its Node was deleted: %v", err)
	}

	// The first host of a still holds a valid certificate, but the name is
	// the new host's now: renewal wants the node password too.
	if err := a.Renew(ctx); err == nil || !strings.Contains(err.Error(), "403") {
		t.Errorf("the old host of a renewing: %v", err)
	}
	// f renews its own certificates and keeps working with the new ones.
	before := readFile(t, filepath.Join(dirF, "tls", "node.crt"))
	if err := f.Renew(ctx); err != nil {
		t.Fatalf("renew: %v", err)
	}
	after := readFile(t, filepath.Join(dirF, "tls", "node.crt"))
	if string(before) == string(after) {
		t.Error("renewal left the client certificate as it was")
	}
	rc, err := f.Credentials.RESTConfig(node.AgentUser("f"))
	if err != nil {
		t.Fatal(err)
	}
	c, err := kubernetes.NewForConfig(rc)
	if err != nil {
		t.Fatal(err)
	}
	review, err = c.AuthenticationV1().SelfSubjectReviews().Create(ctx, selfReview(), metav1.CreateOptions{})
	if err != nil || review.Status.UserInfo.Username != "system:node:f" {
		t.Errorf("whoami with the renewed certificate: %v %v", review, err)
	}
	if at, err := f.RenewAt(); err != nil || time.Until(at) < 200*24*time.Hour {
		t.Errorf("next renewal at %v (%v), want about eight months away", at, err)
	}
	// The ingress controller has an identity of its own.
	rc, err = f.Credentials.RESTConfig(node.IngressUser)
	if err != nil {
		t.Fatal(err)
	}
	if c, err = kubernetes.NewForConfig(rc); err != nil {
		t.Fatal(err)
	}
	review, err = c.AuthenticationV1().SelfSubjectReviews().Create(ctx, selfReview(), metav1.CreateOptions{})
	if err != nil || review.Status.UserInfo.Username != node.IngressUser {
		t.Errorf("whoami as the ingress controller: %v %v", review, err)
	}
	// A node that joined before nodes ran an ingress controller gets its
	// certificate when it starts again.
	for _, name := range []string{"ingress.crt", "ingress.key"} {
		if err := os.Remove(filepath.Join(dirF, "tls", name)); err != nil {
			t.Fatal(err)
		}
	}
	if at, err := f.RenewAt(); err != nil || time.Until(at) > time.Hour {
		t.Errorf("with no ingress certificate, next renewal at %v (%v), want within the hour", at, err)
	}
	if _, err := node.Join(ctx, node.JoinConfig{Server: ts.URL(), DataDir: dirF, NodeName: "f",
		NodeIP: net.ParseIP("192.0.2.10"), Logger: servertest.Logger()}); err != nil {
		t.Fatalf("restart of f: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dirF, "tls", "ingress.crt")); err != nil {
		t.Errorf("f's ingress certificate after a restart: %v", err)
	}
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func selfReview() *authnv1.SelfSubjectReview { return &authnv1.SelfSubjectReview{} }
