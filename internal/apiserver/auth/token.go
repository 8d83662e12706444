package auth

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"net/http"
	"strings"
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

// Tokens issues and verifies service account tokens (ES256 JWTs signed with
// the cluster's service account key).
type Tokens struct {
	key    *ecdsa.PrivateKey
	kid    string
	issuer string
	// Live reports whether the objects a token names still exist with the
	// same UIDs (service account, and the bound pod); nil skips the check.
	Live func(ctx context.Context, namespace, serviceAccount string, saUID types.UID, pod *BoundObject) error
	now  func() time.Time
}

// NewTokens returns a token issuer for key (an ECDSA P-256 key).
func NewTokens(key crypto.Signer, issuer string) (*Tokens, error) {
	ec, ok := key.(*ecdsa.PrivateKey)
	if !ok {
		return nil, errors.New("service account key must be ECDSA")
	}
	der, err := x509.MarshalPKIXPublicKey(&ec.PublicKey)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(der)
	return &Tokens{key: ec, kid: base64.RawURLEncoding.EncodeToString(sum[:]), issuer: issuer, now: time.Now}, nil
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
	header, _ := json.Marshal(map[string]string{"alg": "ES256", "kid": t.kid})
	body, err := json.Marshal(claims)
	if err != nil {
		return "", time.Time{}, err
	}
	signing := b64(header) + "." + b64(body)
	sum := sha256.Sum256([]byte(signing))
	r, s, err := ecdsa.Sign(rand.Reader, t.key, sum[:])
	if err != nil {
		return "", time.Time{}, err
	}
	sig := make([]byte, 64)
	r.FillBytes(sig[:32])
	s.FillBytes(sig[32:])
	return signing + "." + b64(sig), exp, nil
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
	if err != nil || json.Unmarshal(hb, &header) != nil || header.Alg != "ES256" {
		return nil, errors.New("unsupported token header")
	}
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil || len(sig) != 64 {
		return nil, errors.New("bad signature encoding")
	}
	sum := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	r, s := new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])
	if !ecdsa.Verify(&t.key.PublicKey, sum[:], r, s) {
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
	auds := a.Audiences
	if len(auds) == 0 {
		auds = []string{a.Tokens.issuer}
	}
	c, err := a.Tokens.verify(strings.TrimSpace(token), auds)
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
