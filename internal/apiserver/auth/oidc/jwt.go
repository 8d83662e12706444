package oidc

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"strings"
	"sync"
	"time"
)

// jwt is a token split and decoded, its signature not yet checked.
type jwt struct {
	header  jwtHeader
	claims  map[string]any
	signed  []byte
	sig     []byte
	payload []byte
}

type jwtHeader struct {
	Alg string `json:"alg"`
	Kid string `json:"kid"`
}

// parseJWT decodes a compact JWS. Numbers in claims become int64 when
// integral and float64 otherwise, as upstream's unstructured conversion
// gives CEL.
func parseJWT(token string) (*jwt, error) {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return nil, errors.New("malformed jwt, expected 3 parts")
	}
	var t jwt
	hb, err := base64.RawURLEncoding.DecodeString(parts[0])
	if err != nil || json.Unmarshal(hb, &t.header) != nil {
		return nil, errors.New("malformed jwt header")
	}
	if t.payload, err = base64.RawURLEncoding.DecodeString(parts[1]); err != nil {
		return nil, errors.New("malformed jwt payload")
	}
	dec := json.NewDecoder(bytes.NewReader(t.payload))
	dec.UseNumber()
	var claims map[string]any
	if err := dec.Decode(&claims); err != nil || claims == nil {
		return nil, errors.New("malformed jwt claims")
	}
	t.claims = normalize(claims).(map[string]any)
	if t.sig, err = base64.RawURLEncoding.DecodeString(parts[2]); err != nil {
		return nil, errors.New("malformed jwt signature")
	}
	t.signed = []byte(parts[0] + "." + parts[1])
	return &t, nil
}

func normalize(v any) any {
	switch x := v.(type) {
	case json.Number:
		if i, err := x.Int64(); err == nil {
			return i
		}
		f, _ := x.Float64()
		return f
	case map[string]any:
		for k, e := range x {
			x[k] = normalize(e)
		}
	case []any:
		for i, e := range x {
			x[i] = normalize(e)
		}
	}
	return v
}

// untrustedIssuer is the iss claim of a token, unverified: enough to pick
// the authenticator that should verify it.
func untrustedIssuer(token string) (string, bool) {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return "", false
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return "", false
	}
	var c struct {
		Iss string `json:"iss"`
	}
	if json.Unmarshal(b, &c) != nil || c.Iss == "" {
		return "", false
	}
	return c.Iss, true
}

// supportedAlgs are the JWS algorithms accepted, as upstream's allow-list
// (less the PS* family).
var supportedAlgs = map[string]crypto.Hash{
	"RS256": crypto.SHA256, "RS384": crypto.SHA384, "RS512": crypto.SHA512,
	"ES256": crypto.SHA256, "ES384": crypto.SHA384, "ES512": crypto.SHA512,
}

// verifySig checks sig over signed with key for alg.
func verifySig(alg string, key crypto.PublicKey, signed, sig []byte) bool {
	h, ok := supportedAlgs[alg]
	if !ok {
		return false
	}
	hh := h.New()
	hh.Write(signed)
	sum := hh.Sum(nil)
	switch k := key.(type) {
	case *rsa.PublicKey:
		return strings.HasPrefix(alg, "RS") && rsa.VerifyPKCS1v15(k, h, sum, sig) == nil
	case *ecdsa.PublicKey:
		size := (k.Curve.Params().BitSize + 7) / 8
		if !strings.HasPrefix(alg, "ES") || len(sig) != 2*size || curveAlg(k.Curve) != alg {
			return false
		}
		r, s := new(big.Int).SetBytes(sig[:size]), new(big.Int).SetBytes(sig[size:])
		return ecdsa.Verify(k, sum, r, s)
	}
	return false
}

func curveAlg(c elliptic.Curve) string {
	switch c {
	case elliptic.P256():
		return "ES256"
	case elliptic.P384():
		return "ES384"
	case elliptic.P521():
		return "ES512"
	}
	return ""
}

// jwk is one key of a JWKS.
type jwk struct {
	Kty string `json:"kty"`
	Kid string `json:"kid"`
	Use string `json:"use"`
	Crv string `json:"crv"`
	X   string `json:"x"`
	Y   string `json:"y"`
	N   string `json:"n"`
	E   string `json:"e"`
}

// publicKey decodes k; ok is false for key types skiff does not verify
// with (they are skipped, as other verifiers do).
func (k jwk) publicKey() (crypto.PublicKey, bool) {
	if k.Use != "" && k.Use != "sig" {
		return nil, false
	}
	dec := base64.RawURLEncoding.DecodeString
	switch k.Kty {
	case "RSA":
		n, err1 := dec(k.N)
		e, err2 := dec(k.E)
		if err1 != nil || err2 != nil || len(e) == 0 || len(e) > 4 {
			return nil, false
		}
		return &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: int(new(big.Int).SetBytes(e).Int64())}, true
	case "EC":
		var curve elliptic.Curve
		switch k.Crv {
		case "P-256":
			curve = elliptic.P256()
		case "P-384":
			curve = elliptic.P384()
		case "P-521":
			curve = elliptic.P521()
		default:
			return nil, false
		}
		x, err1 := dec(k.X)
		y, err2 := dec(k.Y)
		if err1 != nil || err2 != nil {
			return nil, false
		}
		pub := &ecdsa.PublicKey{Curve: curve, X: new(big.Int).SetBytes(x), Y: new(big.Int).SetBytes(y)}
		if _, err := pub.ECDH(); err != nil { // not on the curve
			return nil, false
		}
		return pub, true
	}
	return nil, false
}

// keyFetchInterval is the least time between two fetches of an issuer's
// JWKS for an unknown kid, so that tokens with made-up kids cannot make
// the API server hammer the issuer.
const keyFetchInterval = 2 * time.Second

// remoteKeys discovers an issuer's JWKS and keeps its keys, fetching them
// again when a token names a kid it does not know.
type remoteKeys struct {
	issuer       string
	discoveryURL string
	client       *http.Client
	now          func() time.Time

	mu        sync.Mutex
	jwksURI   string
	keys      map[string]crypto.PublicKey
	anonymous []crypto.PublicKey // keys without a kid
	fetched   time.Time
}

func newRemoteKeys(cfg Issuer, tlsCfg *tls.Config, now func() time.Time) *remoteKeys {
	d := cfg.DiscoveryURL
	if d == "" {
		d = strings.TrimSuffix(cfg.URL, "/") + "/.well-known/openid-configuration"
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = tlsCfg
	return &remoteKeys{issuer: cfg.URL, discoveryURL: d, client: &http.Client{Transport: tr, Timeout: 10 * time.Second}, now: now}
}

// close lets go of idle connections to the issuer.
func (r *remoteKeys) close() { r.client.CloseIdleConnections() }

// candidates returns the keys that may have signed a token with kid,
// fetching the JWKS (and the discovery document, the first time) when
// none is known and the last fetch is old enough.
func (r *remoteKeys) candidates(ctx context.Context, kid string) ([]crypto.PublicKey, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if keys := r.lookup(kid); len(keys) > 0 {
		return keys, nil
	}
	if !r.fetched.IsZero() && r.now().Sub(r.fetched) < keyFetchInterval {
		return nil, fmt.Errorf("no key with kid %q in the issuer's JWKS", kid)
	}
	r.fetched = r.now()
	if err := r.fetch(ctx); err != nil {
		return nil, err
	}
	if keys := r.lookup(kid); len(keys) > 0 {
		return keys, nil
	}
	return nil, fmt.Errorf("no key with kid %q in the issuer's JWKS", kid)
}

func (r *remoteKeys) lookup(kid string) []crypto.PublicKey {
	if kid != "" {
		if k, ok := r.keys[kid]; ok {
			return []crypto.PublicKey{k}
		}
		return nil
	}
	out := append([]crypto.PublicKey(nil), r.anonymous...)
	for _, k := range r.keys {
		out = append(out, k)
	}
	return out
}

// fetch reads the discovery document (once) and the JWKS.
func (r *remoteKeys) fetch(ctx context.Context) error {
	if r.jwksURI == "" {
		var doc struct {
			Issuer  string `json:"issuer"`
			JWKSURI string `json:"jwks_uri"`
		}
		if err := r.getJSON(ctx, r.discoveryURL, &doc); err != nil {
			return fmt.Errorf("discovery: %w", err)
		}
		if doc.Issuer != r.issuer {
			return fmt.Errorf("discovery: issuer did not match the issuer returned by provider, expected %q got %q", r.issuer, doc.Issuer)
		}
		if doc.JWKSURI == "" {
			return errors.New("discovery: no jwks_uri")
		}
		r.jwksURI = doc.JWKSURI
	}
	var set struct {
		Keys []jwk `json:"keys"`
	}
	if err := r.getJSON(ctx, r.jwksURI, &set); err != nil {
		return fmt.Errorf("fetch keys: %w", err)
	}
	r.keys, r.anonymous = map[string]crypto.PublicKey{}, nil
	for _, k := range set.Keys {
		pub, ok := k.publicKey()
		if !ok {
			continue
		}
		if k.Kid == "" {
			r.anonymous = append(r.anonymous, pub)
		} else {
			r.keys[k.Kid] = pub
		}
	}
	return nil
}

func (r *remoteKeys) getJSON(ctx context.Context, url string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := r.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %s", url, resp.Status)
	}
	if err := json.Unmarshal(body, v); err != nil {
		return fmt.Errorf("%s: %w", url, err)
	}
	return nil
}
