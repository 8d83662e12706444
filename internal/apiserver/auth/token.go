package auth

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"k8s.io/apimachinery/pkg/types"
)

// Service account token claims, as upstream's bound tokens carry them.
type tokenClaims struct {
	Issuer    string    `json:"iss"`
	Subject   string    `json:"sub"`
	Audience  []string  `json:"aud"`
	Expiry    int64     `json:"exp"`
	IssuedAt  int64     `json:"iat"`
	NotBefore int64     `json:"nbf"`
	JTI       string    `json:"jti,omitempty"`
	K8s       k8sClaims `json:"kubernetes.io"`
}

type k8sClaims struct {
	Namespace      string `json:"namespace"`
	ServiceAccount ref    `json:"serviceaccount"`
	Pod            *ref   `json:"pod,omitempty"`
	Node           *ref   `json:"node,omitempty"`
	Secret         *ref   `json:"secret,omitempty"`
	WarnAfter      int64  `json:"warnafter,omitempty"`
}

type ref struct {
	Name string    `json:"name"`
	UID  types.UID `json:"uid"`
}

// TokenRequest is what a token is issued for.
type TokenRequest struct {
	Namespace, ServiceAccount string
	ServiceAccountUID         types.UID
	Audiences                 []string
	Expiration                time.Duration
	// BoundPod, when set, binds the token to a pod: it stops working when
	// the pod is gone.
	BoundPod *BoundObject
	// BoundNode binds the token to the pod's node.
	BoundNode *BoundObject
}

// BoundObject names the object a token is bound to.
type BoundObject struct {
	Name string
	UID  types.UID
}

// Tokens issues and verifies service account tokens: JWTs signed with the
// cluster's service account key (ES256 for ECDSA P-256, RS256 for RSA) and
// verified with that key's public half or any verification-only key, so
// that tokens signed before a key rotation keep working.
type Tokens struct {
	keys   atomic.Pointer[keySet]
	issuer string
	// Live reports whether the objects a token names still exist with the
	// same UIDs (service account, and the bound pod); nil skips the check.
	Live func(ctx context.Context, namespace, serviceAccount string, saUID types.UID, pod *BoundObject) error
	now  func() time.Time
}

// keySet is the signing key and every key tokens verify with; SetKeys
// replaces it as a whole.
type keySet struct {
	signer crypto.Signer
	alg    string
	kid    string
	// verify holds the signer's public key first, then the others.
	verify []publicKey
}

type publicKey struct {
	kid string
	alg string
	key crypto.PublicKey
}

// NewTokens returns a token issuer for key (ECDSA P-256 or RSA) and
// issuer, the iss claim of its tokens.
func NewTokens(key crypto.Signer, issuer string) (*Tokens, error) {
	t := &Tokens{issuer: issuer, now: time.Now}
	if err := t.SetKeys(key, nil); err != nil {
		return nil, err
	}
	return t, nil
}

// SetKeys makes signer the signing key and verifyOnly (public keys of
// earlier signing keys, or of other issuers sharing this one's name)
// accepted for verification beside it. Tokens in flight are unaffected;
// the next Issue uses signer.
func (t *Tokens) SetKeys(signer crypto.Signer, verifyOnly []crypto.PublicKey) error {
	alg, err := keyAlg(signer.Public())
	if err != nil {
		return fmt.Errorf("service account signing key: %w", err)
	}
	ks := &keySet{signer: signer, alg: alg}
	seen := map[string]bool{}
	for i, pub := range append([]crypto.PublicKey{signer.Public()}, verifyOnly...) {
		alg, err := keyAlg(pub)
		if err != nil {
			return fmt.Errorf("service account verification key %d: %w", i, err)
		}
		kid, err := KeyID(pub)
		if err != nil {
			return fmt.Errorf("service account verification key %d: %w", i, err)
		}
		if i == 0 {
			ks.kid = kid
		}
		if seen[kid] {
			continue
		}
		seen[kid] = true
		ks.verify = append(ks.verify, publicKey{kid: kid, alg: alg, key: pub})
	}
	t.keys.Store(ks)
	return nil
}

// keyAlg is the JWS algorithm tokens signed by key's private half use.
func keyAlg(pub crypto.PublicKey) (string, error) {
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		if k.Curve != elliptic.P256() {
			return "", errors.New("ECDSA keys must be P-256")
		}
		return "ES256", nil
	case *rsa.PublicKey:
		return "RS256", nil
	default:
		return "", fmt.Errorf("unsupported key type %T (want ECDSA P-256 or RSA)", pub)
	}
}

// KeyID is the kid of pub, as upstream computes it: the unpadded base64url
// SHA-256 of its PKIX DER encoding, so that every API server sharing a key
// publishes the same kid.
func KeyID(pub crypto.PublicKey) (string, error) {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(der)
	return base64.RawURLEncoding.EncodeToString(sum[:]), nil
}

// Issuer is the iss claim of every token.
func (t *Tokens) Issuer() string { return t.issuer }

// Issue signs a token for req and returns it with its expiry.
func (t *Tokens) Issue(req TokenRequest) (string, time.Time, error) {
	now := t.now()
	exp := now.Add(req.Expiration)
	claims := tokenClaims{
		Issuer: t.issuer, Subject: "system:serviceaccount:" + req.Namespace + ":" + req.ServiceAccount,
		Audience: req.Audiences, Expiry: exp.Unix(), IssuedAt: now.Unix(), NotBefore: now.Unix(),
		JTI: string(types.UID(randomID())),
		K8s: k8sClaims{Namespace: req.Namespace, ServiceAccount: ref{Name: req.ServiceAccount, UID: req.ServiceAccountUID}},
	}
	if req.BoundPod != nil {
		claims.K8s.Pod = &ref{Name: req.BoundPod.Name, UID: req.BoundPod.UID}
	}
	if req.BoundNode != nil {
		claims.K8s.Node = &ref{Name: req.BoundNode.Name, UID: req.BoundNode.UID}
	}
	ks := t.keys.Load()
	header, _ := json.Marshal(map[string]string{"alg": ks.alg, "kid": ks.kid})
	body, err := json.Marshal(claims)
	if err != nil {
		return "", time.Time{}, err
	}
	signing := b64(header) + "." + b64(body)
	sig, err := sign(ks.signer, []byte(signing))
	if err != nil {
		return "", time.Time{}, fmt.Errorf("sign token: %w", err)
	}
	return signing + "." + b64(sig), exp, nil
}

// sign returns the JWS signature of data by key: r||s for ECDSA, PKCS #1
// v1.5 for RSA.
func sign(key crypto.Signer, data []byte) ([]byte, error) {
	sum := sha256.Sum256(data)
	switch k := key.(type) {
	case *ecdsa.PrivateKey:
		r, s, err := ecdsa.Sign(rand.Reader, k, sum[:])
		if err != nil {
			return nil, err
		}
		sig := make([]byte, 64)
		r.FillBytes(sig[:32])
		s.FillBytes(sig[32:])
		return sig, nil
	default:
		return key.Sign(rand.Reader, sum[:], crypto.SHA256)
	}
}

// VerifySignature checks a JWS signature of alg (ES256 or RS256) over
// signed with pub.
func VerifySignature(alg string, pub crypto.PublicKey, signed, sig []byte) bool {
	sum := sha256.Sum256(signed)
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		if alg != "ES256" || len(sig) != 64 {
			return false
		}
		r, s := new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])
		return ecdsa.Verify(k, sum[:], r, s)
	case *rsa.PublicKey:
		return alg == "RS256" && rsa.VerifyPKCS1v15(k, crypto.SHA256, sum[:], sig) == nil
	}
	return false
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

func randomID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}

// verify checks a token's signature, time and audience and returns its claims.
func (t *Tokens) verify(token string, audiences []string) (*tokenClaims, error) {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return nil, errors.New("not a JWT")
	}
	var header struct{ Alg, Kid string }
	hb, err := base64.RawURLEncoding.DecodeString(parts[0])
	if err != nil || json.Unmarshal(hb, &header) != nil || (header.Alg != "ES256" && header.Alg != "RS256") {
		return nil, errors.New("unsupported token header")
	}
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil {
		return nil, errors.New("bad signature encoding")
	}
	if !t.keys.Load().verifies(header.Alg, header.Kid, []byte(parts[0]+"."+parts[1]), sig) {
		return nil, errors.New("invalid signature")
	}
	cb, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return nil, err
	}
	var c tokenClaims
	if err := json.Unmarshal(cb, &c); err != nil {
		// Audience may be a single string.
		return nil, err
	}
	if c.Issuer != t.issuer {
		return nil, errors.New("token from another issuer")
	}
	now := t.now().Unix()
	if now >= c.Expiry || now+60 < c.NotBefore {
		return nil, errors.New("token expired")
	}
	if len(audiences) > 0 && !intersects(c.Audience, audiences) {
		return nil, errors.New("token audience not accepted")
	}
	return &c, nil
}

// verifies reports whether one of the keys checks sig: the key kid names
// if there is one, else (tokens of other issuers may carry no kid or
// their own) each key in turn, as upstream does.
func (ks *keySet) verifies(alg, kid string, signed, sig []byte) bool {
	for _, k := range ks.verify {
		if k.kid == kid {
			return VerifySignature(alg, k.key, signed, sig)
		}
	}
	for _, k := range ks.verify {
		if VerifySignature(alg, k.key, signed, sig) {
			return true
		}
	}
	return false
}

// ownsToken reports whether token is a JWT whose unverified iss claim is
// this issuer, as upstream's service account authenticator checks before
// anything else.
func (t *Tokens) ownsToken(token string) bool {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return false
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return false
	}
	var c struct {
		Iss string `json:"iss"`
	}
	return json.Unmarshal(b, &c) == nil && c.Iss == t.issuer
}

func intersects(a, b []string) bool {
	for _, x := range a {
		for _, y := range b {
			if x == y {
				return true
			}
		}
	}
	return false
}

// TokenAuthenticator authenticates bearer service account tokens.
type TokenAuthenticator struct {
	Tokens *Tokens
	// Audiences the API server accepts (default: the issuer).
	Audiences []string
}

var _ Authenticator = (*TokenAuthenticator)(nil)

// Authenticate implements the API server's Authenticator.
func (a *TokenAuthenticator) Authenticate(r *http.Request) (*User, bool, error) {
	h := r.Header.Get("Authorization")
	token, ok := strings.CutPrefix(h, "Bearer ")
	if !ok || token == "" {
		return nil, false, nil
	}
	token = strings.TrimSpace(token)
	if !a.Tokens.ownsToken(token) {
		// Another issuer's (or not a JWT): another authenticator's business.
		return nil, false, nil
	}
	auds := a.Audiences
	if len(auds) == 0 {
		auds = []string{a.Tokens.issuer}
	}
	c, err := a.Tokens.verify(token, auds)
	if err != nil {
		return nil, false, fmt.Errorf("invalid bearer token: %w", err)
	}
	if a.Tokens.Live != nil {
		var pod *BoundObject
		if c.K8s.Pod != nil {
			pod = &BoundObject{Name: c.K8s.Pod.Name, UID: c.K8s.Pod.UID}
		}
		if err := a.Tokens.Live(r.Context(), c.K8s.Namespace, c.K8s.ServiceAccount.Name, c.K8s.ServiceAccount.UID, pod); err != nil {
			return nil, false, fmt.Errorf("invalid bearer token: %w", err)
		}
	}
	u := &User{
		Name:   c.Subject,
		UID:    string(c.K8s.ServiceAccount.UID),
		Groups: []string{"system:serviceaccounts", "system:serviceaccounts:" + c.K8s.Namespace, GroupAuthenticated},
		Extra:  map[string][]string{},
	}
	if c.K8s.Pod != nil {
		u.Extra["authentication.kubernetes.io/pod-name"] = []string{c.K8s.Pod.Name}
		u.Extra["authentication.kubernetes.io/pod-uid"] = []string{string(c.K8s.Pod.UID)}
	}
	if c.K8s.Node != nil {
		// The node the token's pod runs on, as upstream reports it.
		u.Extra["authentication.kubernetes.io/node-name"] = []string{c.K8s.Node.Name}
		if c.K8s.Node.UID != "" {
			u.Extra["authentication.kubernetes.io/node-uid"] = []string{string(c.K8s.Node.UID)}
		}
	}
	if c.JTI != "" {
		u.Extra["authentication.kubernetes.io/credential-id"] = []string{"JTI=" + c.JTI}
	}
	return u, true, nil
}

// DefaultAudiences are the audiences of a token request that names none:
// the issuer itself.
func (t *Tokens) DefaultAudiences() []string { return []string{t.issuer} }
