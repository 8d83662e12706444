package auth

import (
	"crypto/ecdsa"
	"crypto/rsa"
	"encoding/json"
	"math/big"
	"slices"
)

// Service account issuer discovery: the OpenID Connect documents through
// which anyone holding a service account token can check its signature
// without asking the API server to (workload identity federation, and
// upstream's conformance suite).

// OpenIDConfiguration is the discovery document served at
// /.well-known/openid-configuration.
func (t *Tokens) OpenIDConfiguration() ([]byte, error) {
	var algs []string
	for _, k := range t.keys.Load().verify {
		if !slices.Contains(algs, k.alg) {
			algs = append(algs, k.alg)
		}
	}
	slices.Sort(algs)
	return json.Marshal(map[string]any{
		"issuer":                                t.issuer,
		"jwks_uri":                              t.issuer + JWKSPath,
		"response_types_supported":              []string{"id_token"},
		"subject_types_supported":               []string{"public"},
		"id_token_signing_alg_values_supported": algs,
	})
}

// JWKSPath is where the issuer's public keys are served.
const JWKSPath = "/openid/v1/jwks"

// OpenIDConfigurationPath is where the discovery document is served.
const OpenIDConfigurationPath = "/.well-known/openid-configuration"

// JWKS is the JSON Web Key Set of every key tokens verify with: the
// signing key's and the verification-only ones, each with its own kid.
func (t *Tokens) JWKS() ([]byte, error) {
	keys := []map[string]string{}
	for _, k := range t.keys.Load().verify {
		jwk := map[string]string{"use": "sig", "kid": k.kid, "alg": k.alg}
		switch pub := k.key.(type) {
		case *ecdsa.PublicKey:
			size := (pub.Curve.Params().BitSize + 7) / 8
			x, y := make([]byte, size), make([]byte, size)
			pub.X.FillBytes(x)
			pub.Y.FillBytes(y)
			jwk["kty"], jwk["crv"], jwk["x"], jwk["y"] = "EC", "P-256", b64(x), b64(y)
		case *rsa.PublicKey:
			jwk["kty"], jwk["n"], jwk["e"] = "RSA", b64(pub.N.Bytes()), b64(big.NewInt(int64(pub.E)).Bytes())
		}
		keys = append(keys, jwk)
	}
	return json.Marshal(map[string]any{"keys": keys})
}
