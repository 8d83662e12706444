package auth

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"math/big"
	"strings"
	"testing"
	"time"
)

// TestIssuerDiscovery checks a token against the published documents the
// way an outside verifier does: find the JWKS from the discovery
// document, pick the key by the token's kid, check the signature.
func TestIssuerDiscovery(t *testing.T) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tokens, err := NewTokens(key, "https://kubernetes.default.svc.cluster.local")
	if err != nil {
		t.Fatal(err)
	}
	raw, err := tokens.OpenIDConfiguration()
	if err != nil {
		t.Fatal(err)
	}
	var cfg struct {
		Issuer  string   `json:"issuer"`
		JWKSURI string   `json:"jwks_uri"`
		Algs    []string `json:"id_token_signing_alg_values_supported"`
	}
	if err := json.Unmarshal(raw, &cfg); err != nil {
		t.Fatal(err)
	}
	if cfg.Issuer != "https://kubernetes.default.svc.cluster.local" || cfg.JWKSURI != cfg.Issuer+"/openid/v1/jwks" || len(cfg.Algs) != 1 || cfg.Algs[0] != "ES256" {
		t.Errorf("discovery document %s", raw)
	}
	raw, err = tokens.JWKS()
	if err != nil {
		t.Fatal(err)
	}
	var set struct {
		Keys []struct{ Kid, Kty, Crv, Alg, X, Y string } `json:"keys"`
	}
	if err := json.Unmarshal(raw, &set); err != nil || len(set.Keys) != 1 {
		t.Fatalf("JWKS %s: %v", raw, err)
	}
	jwk := set.Keys[0]
	token, _, err := tokens.Issue(TokenRequest{Namespace: "ns", ServiceAccount: "default", Audiences: []string{"a"}, Expiration: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(token, ".")
	header, _ := base64.RawURLEncoding.DecodeString(parts[0])
	var h struct{ Alg, Kid string }
	if err := json.Unmarshal(header, &h); err != nil {
		t.Fatal(err)
	}
	if h.Kid != jwk.Kid || h.Alg != jwk.Alg || jwk.Kty != "EC" || jwk.Crv != "P-256" {
		t.Fatalf("token header %s does not match the published key %+v", header, jwk)
	}
	x, _ := base64.RawURLEncoding.DecodeString(jwk.X)
	y, _ := base64.RawURLEncoding.DecodeString(jwk.Y)
	pub := &ecdsa.PublicKey{Curve: elliptic.P256(), X: new(big.Int).SetBytes(x), Y: new(big.Int).SetBytes(y)}
	sig, _ := base64.RawURLEncoding.DecodeString(parts[2])
	sum := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	if !ecdsa.Verify(pub, sum[:], new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])) {
		t.Error("the token's signature does not verify with the published key")
	}
}
