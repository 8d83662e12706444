// Package oidctest is a loopback OpenID Connect issuer for tests: an
// HTTPS server serving a discovery document and a JWKS, and RS256 tokens
// signed with its keys.
package oidctest

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
)

// Issuer is a running test issuer.
type Issuer struct {
	srv *httptest.Server

	mu   sync.Mutex
	keys []key // published in the JWKS; keys[0] signs
}

type key struct {
	kid  string
	priv *rsa.PrivateKey
}

// Start starts an issuer with one RSA key, closed when the test ends.
func Start(t testing.TB) *Issuer {
	t.Helper()
	is := &Issuer{}
	is.Rotate(t)
	mux := http.NewServeMux()
	mux.HandleFunc("/.well-known/openid-configuration", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{
			"issuer":                                is.URL(),
			"jwks_uri":                              is.URL() + "/jwks",
			"id_token_signing_alg_values_supported": []string{"RS256"},
		})
	})
	mux.HandleFunc("/jwks", func(w http.ResponseWriter, _ *http.Request) {
		is.mu.Lock()
		defer is.mu.Unlock()
		var keys []map[string]string
		for _, k := range is.keys {
			keys = append(keys, map[string]string{
				"kty": "RSA", "use": "sig", "alg": "RS256", "kid": k.kid,
				"n": b64(k.priv.N.Bytes()), "e": b64(big.NewInt(int64(k.priv.E)).Bytes()),
			})
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"keys": keys})
	})
	is.srv = httptest.NewTLSServer(mux)
	t.Cleanup(is.srv.Close)
	return is
}

// URL is the issuer URL (the iss claim).
func (is *Issuer) URL() string { return is.srv.URL }

// CA is the PEM certificate the issuer's TLS certificate chains to.
func (is *Issuer) CA() string {
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: is.srv.Certificate().Raw}))
}

// Rotate adds a new signing key in front of the published ones.
func (is *Issuer) Rotate(t testing.TB) {
	t.Helper()
	priv, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	is.mu.Lock()
	defer is.mu.Unlock()
	is.keys = append([]key{{kid: fmt.Sprintf("key-%d", len(is.keys)+1), priv: priv}}, is.keys...)
}

// Token signs claims (RS256) with the current key.
func (is *Issuer) Token(t testing.TB, claims map[string]any) string {
	t.Helper()
	is.mu.Lock()
	k := is.keys[0]
	is.mu.Unlock()
	return Sign(t, k.priv, k.kid, claims)
}

// Sign signs claims (RS256) with priv, naming kid in the header.
func Sign(t testing.TB, priv *rsa.PrivateKey, kid string, claims map[string]any) string {
	t.Helper()
	header, _ := json.Marshal(map[string]string{"alg": "RS256", "typ": "JWT", "kid": kid})
	body, err := json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	signing := b64(header) + "." + b64(body)
	sum := sha256.Sum256([]byte(signing))
	sig, err := rsa.SignPKCS1v15(rand.Reader, priv, crypto.SHA256, sum[:])
	if err != nil {
		t.Fatal(err)
	}
	return signing + "." + b64(sig)
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }
