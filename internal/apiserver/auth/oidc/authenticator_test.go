package oidc

import (
	"encoding/json"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"skiff/internal/apiserver/auth"
	"skiff/internal/apiserver/auth/oidc/oidctest"
)

// writeConfig writes one JWT authenticator for issuer with the given
// claim mappings and rules.
func writeConfig(t *testing.T, path string, issuer *oidctest.Issuer, jwt map[string]any) {
	t.Helper()
	jwt["issuer"] = map[string]any{"url": issuer.URL(), "certificateAuthority": issuer.CA(), "audiences": []string{"skiff"}}
	data, err := json.Marshal(map[string]any{"apiVersion": "apiserver.config.k8s.io/v1", "kind": "AuthenticationConfiguration", "jwt": []any{jwt}})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

func authenticate(a *Authenticator, token string) (*auth.User, bool, error) {
	r := httptest.NewRequest("GET", "/api", nil)
	r.Header.Set("Authorization", "Bearer "+token)
	return a.Authenticate(r)
}

// TestAuthenticate checks the mapping of claims to users and the reason a
// token is refused, against a loopback issuer.
func TestAuthenticate(t *testing.T) {
	issuer := oidctest.Start(t)
	path := filepath.Join(t.TempDir(), "authn.json")
	writeConfig(t, path, issuer, map[string]any{
		"claimMappings": map[string]any{
			"username": map[string]any{"claim": "email", "prefix": ""},
			"groups":   map[string]any{"expression": "claims.roles.map(r, 'role:' + r)"},
			"uid":      map[string]any{"expression": "claims.sub"},
			"extra":    []any{map[string]any{"key": "example.com/ids", "valueExpression": "[claims.sub, '']"}},
		},
		"userValidationRules": []any{map[string]any{"expression": "user.groups.all(g, g != 'role:root')", "message": "no root"}},
	})
	now := time.Unix(1_900_000_000, 0)
	a, err := New(Config{Path: path, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		for _, is := range a.state.Load().issuers {
			is.keys.close()
		}
	})
	token := func(change func(map[string]any)) string {
		c := map[string]any{"iss": issuer.URL(), "aud": []string{"skiff"}, "sub": "u-1", "email": "ann@example.com",
			"roles": []string{"dev"}, "exp": now.Add(time.Hour).Unix()}
		if change != nil {
			change(c)
		}
		return issuer.Token(t, c)
	}
	tests := []struct {
		name    string
		token   string
		want    *auth.User
		wantErr string
	}{
		{"mapped", token(nil), &auth.User{Name: "ann@example.com", UID: "u-1", Groups: []string{"role:dev", "system:authenticated"},
			Extra: map[string][]string{"example.com/ids": {"u-1"}}}, ""},
		{"email verified", token(func(c map[string]any) { c["email_verified"] = true }), &auth.User{Name: "ann@example.com", UID: "u-1",
			Groups: []string{"role:dev", "system:authenticated"}, Extra: map[string][]string{"example.com/ids": {"u-1"}}}, ""},
		{"email not verified", token(func(c map[string]any) { c["email_verified"] = false }), nil, "oidc: email not verified"},
		{"no email", token(func(c map[string]any) { delete(c, "email") }), nil, `oidc: parse username claims "email"`},
		{"user rule", token(func(c map[string]any) { c["roles"] = []string{"root"} }), nil,
			"oidc: error evaluating user info validation rule: validation expression 'user.groups.all(g, g != 'role:root')' failed: no root"},
		{"audience", token(func(c map[string]any) { c["aud"] = "x" }), nil, `oidc: verify token: oidc: expected audience in ["skiff"] got ["x"]`},
		{"expired", token(func(c map[string]any) { c["exp"] = now.Add(-time.Second).Unix() }), nil, "oidc: token is expired"},
		{"no expiry", token(func(c map[string]any) { delete(c, "exp") }), nil, "oidc: token has no expiry"},
		{"nbf beyond the leeway", token(func(c map[string]any) { c["nbf"] = now.Add(10 * time.Minute).Unix() }), nil, "before the nbf (not before) time"},
		{"tampered", token(nil)[:40] + "x" + token(nil)[41:], nil, "oidc: verify token"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u, ok, err := authenticate(a, tt.token)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || !ok {
				t.Fatalf("authenticate: %v %v", ok, err)
			}
			if diff := cmp.Diff(tt.want, u); diff != "" {
				t.Errorf("user (-want +got):\n%s", diff)
			}
		})
	}

	// Tokens of other issuers, and what is not a JWT, are not its business.
	for _, tok := range []string{"abcdef.0123456789abcdef", issuerToken(t, "https://elsewhere.example")} {
		if u, ok, err := authenticate(a, tok); u != nil || ok || err != nil {
			t.Errorf("foreign token %q: %v %v %v, want declined", tok, u, ok, err)
		}
	}
}

// issuerToken is an unsigned-looking JWT naming iss; it is declined before
// any signature check.
func issuerToken(t *testing.T, iss string) string {
	t.Helper()
	return "eyJhbGciOiJSUzI1NiJ9." + b64json(t, map[string]any{"iss": iss}) + ".c2ln"
}

func b64json(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimRight(base64URL(b), "=")
}

// TestReload checks that Run picks up a changed file, and keeps the last
// good configuration when the new one does not validate.
func TestReload(t *testing.T) {
	issuer := oidctest.Start(t)
	path := filepath.Join(t.TempDir(), "authn.json")
	mapping := func(prefix string) map[string]any {
		return map[string]any{"claimMappings": map[string]any{"username": map[string]any{"claim": "sub", "prefix": prefix}}}
	}
	writeConfig(t, path, issuer, mapping("one:"))
	logged := &errorCounter{}
	a, err := New(Config{Path: path, ReloadInterval: 10 * time.Millisecond, Logger: slog.New(logged)})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error)
	go func() { done <- a.Run(t.Context()) }()
	t.Cleanup(func() { <-done })

	tok := issuer.Token(t, map[string]any{"iss": issuer.URL(), "aud": "skiff", "sub": "u", "exp": time.Now().Add(time.Hour).Unix()})
	name := func() string {
		u, _, err := authenticate(a, tok)
		if err != nil {
			return err.Error()
		}
		return u.Name
	}
	if got := name(); got != "one:u" {
		t.Fatalf("user %q, want one:u", got)
	}
	writeConfig(t, path, issuer, mapping("two:"))
	waitFor(t, func() bool { return name() == "two:u" })
	if err := os.WriteFile(path, []byte("kind: AuthenticationConfiguration\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	good := a.state.Load()
	// The bad file is refused (logged) and the last good one stays.
	waitFor(t, func() bool { return logged.count() > 0 })
	if a.state.Load() != good || name() != "two:u" {
		t.Errorf("a bad file replaced the configuration: user %q", name())
	}
}

// TestEmptyUsernameExpression checks upstream's refusal of an empty
// username from a CEL expression.
func TestEmptyUsernameExpression(t *testing.T) {
	issuer := oidctest.Start(t)
	path := filepath.Join(t.TempDir(), "authn.json")
	writeConfig(t, path, issuer, map[string]any{
		"claimMappings": map[string]any{"username": map[string]any{"expression": "claims.?nick.orValue('')"}},
	})
	a, err := New(Config{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		for _, is := range a.state.Load().issuers {
			is.keys.close()
		}
	})
	claims := map[string]any{"iss": issuer.URL(), "aud": "skiff", "exp": time.Now().Add(time.Hour).Unix()}
	if _, _, err := authenticate(a, issuer.Token(t, claims)); err == nil || !strings.Contains(err.Error(), "oidc: empty username via CEL expression is not allowed") {
		t.Errorf("no nick: %v, want the empty username refused", err)
	}
	claims["nick"] = "zed"
	if u, ok, err := authenticate(a, issuer.Token(t, claims)); err != nil || !ok || u.Name != "zed" {
		t.Errorf("nick zed: %v %v %v", u, ok, err)
	}
}
