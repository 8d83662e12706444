package oidc

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestValidate checks upstream's validation rules: each bad configuration
// is refused with the field path and reason upstream gives.
func TestValidate(t *testing.T) {
	const head = "apiVersion: apiserver.config.k8s.io/v1\nkind: AuthenticationConfiguration\n"
	tests := []struct {
		name string
		jwt  string
		want []string // substrings of the error, each a field error
	}{
		{"valid", `
- issuer: {url: "https://a.example", audiences: [x]}
  claimMappings:
    username: {claim: email, prefix: ""}
    groups: {expression: "claims.groups"}
    uid: {expression: "claims.sub"}
    extra: [{key: "example.com/a", valueExpression: "claims.a"}]
  claimValidationRules: [{expression: "claims.hd == 'example.com'", message: m}, {claim: tenant, requiredValue: t1}]
  userValidationRules: [{expression: "!user.username.startsWith('system:')"}]
`, nil},
		{"missing issuer and username", `
- issuer: {audiences: [x]}
`, []string{"jwt[0].issuer.url: Required value", "jwt[0].claimMappings.username: Required value: claim or expression is required"}},
		{"issuer url", `
- issuer: {url: "http://u:p@a.example?q=1#f", audiences: [x]}
  claimMappings: {username: {claim: sub, prefix: ""}}
`, []string{"URL scheme must be https", "URL must not contain a username or password", "URL must not contain a query", "URL must not contain a fragment"}},
		{"service account issuer", `
- issuer: {url: "https://kubernetes.default.svc.cluster.local", audiences: [x]}
  claimMappings: {username: {claim: sub, prefix: ""}}
`, []string{`jwt[0].issuer.url: Invalid value: "https://kubernetes.default.svc.cluster.local": URL must not overlap with disallowed issuers: [https://kubernetes.default.svc.cluster.local]`}},
		{"discovery url same as url", `
- issuer: {url: "https://a.example", discoveryURL: "https://a.example/", audiences: [x]}
  claimMappings: {username: {claim: sub, prefix: ""}}
`, []string{"jwt[0].issuer.discoveryURL: Invalid value: \"https://a.example/\": discoveryURL must be different from URL"}},
		{"audiences", `
- issuer: {url: "https://a.example", audiences: [x, x]}
  claimMappings: {username: {claim: sub, prefix: ""}}
- issuer: {url: "https://b.example", audiences: [x], audienceMatchPolicy: All}
  claimMappings: {username: {claim: sub, prefix: ""}}
- issuer: {url: "https://c.example"}
  claimMappings: {username: {claim: sub, prefix: ""}}
`, []string{`jwt[0].issuer.audiences[1]: Duplicate value: "x"`, "jwt[0].issuer.audienceMatchPolicy: Invalid value: \"\": audienceMatchPolicy must be MatchAny for multiple audiences",
			"audienceMatchPolicy must be empty or MatchAny for single audience", "jwt[2].issuer.audiences: Required value: at least one jwt[2].issuer.audiences is required"}},
		{"duplicate issuers", `
- issuer: {url: "https://a.example", audiences: [x]}
  claimMappings: {username: {claim: sub, prefix: ""}}
- issuer: {url: "https://a.example", audiences: [x]}
  claimMappings: {username: {claim: sub, prefix: ""}}
`, []string{`jwt[1].issuer.url: Duplicate value: "https://a.example"`}},
		{"bad CA", `
- issuer: {url: "https://a.example", audiences: [x], certificateAuthority: "nope"}
  claimMappings: {username: {claim: sub, prefix: ""}}
`, []string{"jwt[0].issuer.certificateAuthority: Invalid value: \"<omitted>\""}},
		{"prefix rules", `
- issuer: {url: "https://a.example", audiences: [x]}
  claimMappings:
    username: {expression: "claims.sub", prefix: "p:"}
    groups: {claim: groups}
    uid: {claim: sub, expression: "claims.sub"}
`, []string{"jwt[0].claimMappings.username.prefix: Invalid value: \"p:\": may not be specified when expression is set",
			"jwt[0].claimMappings.groups.prefix: Required value: prefix is required when claim is set. It can be set to an empty string to disable prefixing",
			"jwt[0].claimMappings.uid: Invalid value: \"\": claim and expression can't both be set"}},
		{"claim validation rules", `
- issuer: {url: "https://a.example", audiences: [x]}
  claimMappings: {username: {claim: sub, prefix: ""}}
  claimValidationRules:
  - {claim: a, expression: "true"}
  - {}
  - {claim: b, message: m}
  - {expression: "claims.c", requiredValue: v}
  - {expression: "'a string'"}
  - {claim: b}
`, []string{"jwt[0].claimValidationRules[0]: Invalid value: \"a\": claim and expression can't both be set",
			"jwt[0].claimValidationRules[1]: Required value: claim or expression is required",
			"jwt[0].claimValidationRules[2].message: Invalid value: \"m\": may not be specified when claim is set",
			"jwt[0].claimValidationRules[3].requiredValue: Invalid value: \"v\": may not be specified when expression is set",
			"jwt[0].claimValidationRules[4].expression: Invalid value: \"'a string'\": must evaluate to bool",
			"jwt[0].claimValidationRules[5].claim: Duplicate value: \"b\""}},
		{"email without email_verified", `
- issuer: {url: "https://a.example", audiences: [x]}
  claimMappings: {username: {expression: "claims.email"}}
`, []string{"jwt[0].claimMappings.username.expression: Invalid value: \"claims.email\": claims.email_verified must be used"}},
		{"email with optional email_verified", `
- issuer: {url: "https://a.example", audiences: [x]}
  claimMappings: {username: {expression: "claims.email"}}
  claimValidationRules: [{expression: "claims.?email_verified.orValue(false)"}]
`, nil},
		{"extra keys", `
- issuer: {url: "https://a.example", audiences: [x]}
  claimMappings:
    username: {claim: sub, prefix: ""}
    extra:
    - {key: "nodomain", valueExpression: "claims.a"}
    - {key: "Example.com/A", valueExpression: "claims.a"}
    - {key: "authentication.kubernetes.io/x", valueExpression: "claims.a"}
    - {key: "example.com/b"}
    - {key: "example.com/c", valueExpression: "claims.a"}
    - {key: "example.com/c", valueExpression: "claims.b"}
`, []string{"jwt[0].claimMappings.extra[0].key: Invalid value: \"nodomain\": must be a domain-prefixed path",
			"jwt[0].claimMappings.extra[1].key: Invalid value: \"Example.com/A\": must be lowercase",
			"jwt[0].claimMappings.extra[2].key: Invalid value: \"authentication.kubernetes.io/x\": k8s.io, kubernetes.io and their subdomains are reserved for Kubernetes use",
			"jwt[0].claimMappings.extra[3].valueExpression: Required value",
			"jwt[0].claimMappings.extra[5].key: Duplicate value: \"example.com/c\""}},
		{"user rules see user, not claims", `
- issuer: {url: "https://a.example", audiences: [x]}
  claimMappings: {username: {claim: sub, prefix: ""}}
  userValidationRules: [{expression: "claims.sub == 'x'"}, {}]
`, []string{"jwt[0].userValidationRules[0].expression: Invalid value: \"claims.sub == 'x'\": compilation failed: ERROR: <input>:1:1: undeclared reference to 'claims'",
			"jwt[0].userValidationRules[1].expression: Required value"}},
		{"anonymous and egress", `
- issuer: {url: "https://a.example", audiences: [x], egressSelectorType: cluster}
  claimMappings: {username: {claim: sub, prefix: ""}}
anonymous: {enabled: true}
`, []string{"anonymous: Forbidden", "jwt[0].issuer.egressSelectorType: Invalid value: \"cluster\""}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "authn.yaml")
			if err := os.WriteFile(path, []byte(head+"jwt:"+tt.jwt), 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := New(Config{Path: path, DisallowedIssuers: []string{"https://kubernetes.default.svc.cluster.local"}})
			if len(tt.want) == 0 {
				if err != nil {
					t.Fatalf("valid configuration refused: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("invalid configuration accepted")
			}
			var missing []string
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					missing = append(missing, w)
				}
			}
			if diff := cmp.Diff([]string(nil), missing); diff != "" {
				t.Errorf("error %q lacks (-want +got):\n%s", err, diff)
			}
		})
	}
}

func TestReadConfigFile(t *testing.T) {
	dir := t.TempDir()
	write := func(name, doc string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(doc), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	tests := []struct{ name, path, want string }{
		{"unknown field", write("a.yaml", "apiVersion: apiserver.config.k8s.io/v1\nkind: AuthenticationConfiguration\njwts: []\n"), `unknown field "jwts"`},
		{"wrong kind", write("b.yaml", "apiVersion: apiserver.config.k8s.io/v1\nkind: EncryptionConfiguration\n"), "kind: Invalid value: \"EncryptionConfiguration\""},
		{"wrong version", write("c.yaml", "apiVersion: v1\nkind: AuthenticationConfiguration\n"), "apiVersion: Unsupported value: \"v1\""},
		{"missing file", filepath.Join(dir, "none.yaml"), "no such file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(Config{Path: tt.path})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("New: %v, want an error containing %q", err, tt.want)
			}
		})
	}
}
