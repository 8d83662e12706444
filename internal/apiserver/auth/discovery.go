package auth

import (
	"encoding/json"
)

// Service account issuer discovery: the OpenID Connect documents through
// which anyone holding a service account token can check its signature
// without asking the API server to (workload identity federation, and
// upstream's conformance suite).

// OpenIDConfiguration is the discovery document served at
// /.well-known/openid-configuration.
func (t *Tokens) OpenIDConfiguration() ([]byte, error) {
	return json.Marshal(map[string]any{
		"issuer":                                t.issuer,
		"jwks_uri":                              t.issuer + JWKSPath,
		"response_types_supported":              []string{"id_token"},
		"subject_types_supported":               []string{"public"},
		"id_token_signing_alg_values_supported": []string{"ES256"},
	})
}

// JWKSPath is where the issuer's public keys are served.
const JWKSPath = "/openid/v1/jwks"

// OpenIDConfigurationPath is where the discovery document is served.
const OpenIDConfigurationPath = "/.well-known/openid-configuration"

// JWKS is the JSON Web Key Set of the issuer's public key.
func (t *Tokens) JWKS() ([]byte, error) {
	pub := t.key.PublicKey
	size := (pub.Curve.Params().BitSize + 7) / 8
	x, y := make([]byte, size), make([]byte, size)
	pub.X.FillBytes(x)
	pub.Y.FillBytes(y)
	return json.Marshal(map[string]any{"keys": []map[string]string{{
		"use": "sig", "kty": "EC", "kid": t.kid, "crv": "P-256", "alg": "ES256", "x": b64(x), "y": b64(y),
	}}})
}
