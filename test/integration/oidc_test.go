package integration

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	authenticationv1 "k8s.io/api/authentication/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"skiff/internal/apiserver/auth/oidc/oidctest"
	"skiff/internal/server"
	"skiff/internal/server/servertest"
)

// authenticationConfig writes an AuthenticationConfiguration trusting
// issuer, with the rules and mappings TestOIDCAuthentication exercises.
func authenticationConfig(t *testing.T, issuer *oidctest.Issuer) string {
	t.Helper()
	cfg := map[string]any{
		"apiVersion": "apiserver.config.k8s.io/v1",
		"kind":       "AuthenticationConfiguration",
		"jwt": []any{map[string]any{
			"issuer": map[string]any{
				"url":                  issuer.URL(),
				"certificateAuthority": issuer.CA(),
				"audiences":            []string{"skiff", "other"},
				"audienceMatchPolicy":  "MatchAny",
			},
			"claimValidationRules": []any{
				map[string]any{"claim": "hd", "requiredValue": "example.com"},
				map[string]any{"expression": "claims.?tier.orValue('') != 'banned'", "message": "banned users may not sign in"},
			},
			"claimMappings": map[string]any{
				"username": map[string]any{"expression": "'oidc:' + claims.sub"},
				"groups":   map[string]any{"claim": "groups", "prefix": "oidc:"},
				"uid":      map[string]any{"claim": "sub"},
				"extra": []any{
					map[string]any{"key": "example.com/tier", "valueExpression": "claims.?tier.orValue('')"},
				},
			},
			"userValidationRules": []any{
				map[string]any{"expression": "!user.username.startsWith('oidc:admin')", "message": "admin names are reserved"},
			},
		}},
	}
	data, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "authentication-config.json")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// whoami is `kubectl auth whoami` with token: the SelfSubjectReview.
func whoami(t *testing.T, ts *servertest.Server, token string) (authenticationv1.UserInfo, error) {
	t.Helper()
	rc := rest.AnonymousClientConfig(ts.Config)
	rc.BearerToken = token
	c, err := kubernetes.NewForConfig(rc)
	if err != nil {
		t.Fatal(err)
	}
	r, err := c.AuthenticationV1().SelfSubjectReviews().Create(context.Background(), &authenticationv1.SelfSubjectReview{}, metav1.CreateOptions{})
	if err != nil {
		return authenticationv1.UserInfo{}, err
	}
	return r.Status.UserInfo, nil
}

// TestOIDCAuthentication runs a server with --authentication-config
// trusting a loopback OIDC issuer and checks, as `kubectl auth whoami`
// would, what its tokens authenticate as, and that tokens failing a check
// or a rule are refused with 401.
func TestOIDCAuthentication(t *testing.T) {
	issuer := oidctest.Start(t)
	ts := servertest.Start(t, func(c *server.Config) {
		c.AuthenticationConfigFile = authenticationConfig(t, issuer)
	})
	now := time.Now()
	claims := func(change func(map[string]any)) map[string]any {
		c := map[string]any{
			"iss": issuer.URL(), "aud": "skiff", "sub": "alice", "hd": "example.com",
			"groups": []string{"dev", "ops"}, "tier": "gold",
			"iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(time.Hour).Unix(),
		}
		if change != nil {
			change(c)
		}
		return c
	}

	got, err := whoami(t, ts, issuer.Token(t, claims(nil)))
	if err != nil {
		t.Fatalf("whoami with a good token: %v", err)
	}
	want := authenticationv1.UserInfo{
		Username: "oidc:alice", UID: "alice",
		Groups: []string{"oidc:dev", "oidc:ops", "system:authenticated"},
		Extra:  map[string]authenticationv1.ExtraValue{"example.com/tier": {"gold"}},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("user (-want +got):\n%s", diff)
	}
	// One of several audiences is enough (MatchAny); groups may be a string.
	got, err = whoami(t, ts, issuer.Token(t, claims(func(c map[string]any) {
		c["aud"], c["groups"] = []string{"someone", "other"}, "qa"
		delete(c, "tier")
	})))
	if err != nil {
		t.Fatalf("whoami with the second audience: %v", err)
	}
	if diff := cmp.Diff(authenticationv1.UserInfo{Username: "oidc:alice", UID: "alice", Groups: []string{"oidc:qa", "system:authenticated"}}, got); diff != "" {
		t.Errorf("user (-want +got):\n%s", diff)
	}

	otherKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	refused := []struct {
		name  string
		token string
	}{
		{"wrong audience", issuer.Token(t, claims(func(c map[string]any) { c["aud"] = "someone-else" }))},
		{"expired", issuer.Token(t, claims(func(c map[string]any) { c["exp"] = now.Add(-time.Minute).Unix() }))},
		{"not yet valid", issuer.Token(t, claims(func(c map[string]any) { c["nbf"] = now.Add(time.Hour).Unix() }))},
		{"required claim missing", issuer.Token(t, claims(func(c map[string]any) { delete(c, "hd") }))},
		{"required claim differs", issuer.Token(t, claims(func(c map[string]any) { c["hd"] = "evil.example" }))},
		{"claim validation expression false", issuer.Token(t, claims(func(c map[string]any) { c["tier"] = "banned" }))},
		{"user validation rule false", issuer.Token(t, claims(func(c map[string]any) { c["sub"] = "admin-bob" }))},
		{"signed by another key", oidctest.Sign(t, otherKey, "key-1", claims(nil))},
	}
	for _, tt := range refused {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := whoami(t, ts, tt.token); !apierrors.IsUnauthorized(err) {
				t.Errorf("whoami: %v, want 401 Unauthorized", err)
			}
		})
	}

	// The issuer rotates its key: a token with the new kid makes the
	// server fetch the JWKS again.
	issuer.Rotate(t)
	rotated := issuer.Token(t, claims(func(c map[string]any) { c["sub"] = "carol" }))
	servertest.Wait(t, "a token signed with the issuer's new key", func(context.Context) (bool, error) {
		u, err := whoami(t, ts, rotated)
		return err == nil && u.Username == "oidc:carol", err
	})

	// Service account tokens still go to their own authenticator.
	if _, err := whoami(t, ts, "not-a-jwt"); !apierrors.IsUnauthorized(err) {
		t.Errorf("garbage token: %v, want 401", err)
	}
}

// TestOIDCBadConfigFailsStart checks that a configuration upstream would
// refuse stops the server from starting, naming the field.
func TestOIDCBadConfigFailsStart(t *testing.T) {
	tests := []struct {
		name, doc, want string
	}{
		{"claim without prefix", `
apiVersion: apiserver.config.k8s.io/v1
kind: AuthenticationConfiguration
jwt:
- issuer: {url: "https://issuer.example", audiences: [skiff]}
  claimMappings: {username: {claim: sub}}
`, "jwt[0].claimMappings.username.prefix: Required value"},
		{"bad CEL", `
apiVersion: apiserver.config.k8s.io/v1
kind: AuthenticationConfiguration
jwt:
- issuer: {url: "https://issuer.example", audiences: [skiff]}
  claimMappings: {username: {expression: "claims.sub +"}}
`, "jwt[0].claimMappings.username.expression: Invalid value"},
		{"http issuer", `
apiVersion: apiserver.config.k8s.io/v1
kind: AuthenticationConfiguration
jwt:
- issuer: {url: "http://issuer.example", audiences: [skiff]}
  claimMappings: {username: {claim: sub, prefix: ""}}
`, "URL scheme must be https"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "authn.yaml")
			if err := os.WriteFile(path, []byte(tt.doc), 0o600); err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			s, err := server.Start(ctx, server.Config{
				DataDir: t.TempDir(), BindAddress: "127.0.0.1", HTTPSPort: -1,
				EtcdClientURL: "https://127.0.0.1:0", EtcdPeerURL: "https://127.0.0.1:0",
				DisableAgent: true, Disable: []string{"scheduler", "controllers"},
				Logger: servertest.Logger(), AuthenticationConfigFile: path,
			})
			if err == nil {
				s.Close()
				t.Fatal("server started with a bad authentication config")
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("start error %q, want it to contain %q", err, tt.want)
			}
		})
	}
}
