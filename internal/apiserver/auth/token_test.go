package auth

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/types"
)

func TestServiceAccountTokens(t *testing.T) {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tokens, err := NewTokens(key, "https://kubernetes.default.svc.cluster.local")
	if err != nil {
		t.Fatal(err)
	}
	now := time.Unix(1_800_000_000, 0)
	tokens.now = func() time.Time { return now }
	gone := map[types.UID]bool{}
	tokens.Live = func(_ context.Context, ns, sa string, uid types.UID, pod *BoundObject) error {
		if gone[uid] || (pod != nil && gone[pod.UID]) {
			return errors.New("bound object is gone")
		}
		return nil
	}
	a := &TokenAuthenticator{Tokens: tokens}
	issue := func(req TokenRequest) string {
		tok, exp, err := tokens.Issue(req)
		if err != nil {
			t.Fatal(err)
		}
		if !exp.Equal(now.Add(req.Expiration)) {
			t.Errorf("expiry %v", exp)
		}
		return tok
	}
	good := issue(TokenRequest{Namespace: "ns1", ServiceAccount: "default", ServiceAccountUID: "sa-uid", Audiences: []string{tokens.Issuer()},
		Expiration: time.Hour, BoundPod: &BoundObject{Name: "p", UID: "pod-uid"}})
	auth := func(tok string) (string, []string, error) {
		r := httptest.NewRequest("GET", "/api", nil)
		r.Header.Set("Authorization", "Bearer "+tok)
		u, ok, err := a.Authenticate(r)
		if err != nil || !ok {
			return "", nil, errors.Join(err, errors.New("not authenticated"))
		}
		return u.Name, u.Groups, nil
	}
	name, groups, err := auth(good)
	if err != nil {
		t.Fatal(err)
	}
	if name != "system:serviceaccount:ns1:default" {
		t.Errorf("user %q", name)
	}
	if diff := cmp.Diff([]string{"system:serviceaccounts", "system:serviceaccounts:ns1", "system:authenticated"}, groups); diff != "" {
		t.Errorf("groups (-want +got):\n%s", diff)
	}

	// A token bound to a pod on a node says which, in the user's extra.
	onNode := issue(TokenRequest{Namespace: "ns1", ServiceAccount: "default", ServiceAccountUID: "sa-uid", Audiences: []string{tokens.Issuer()},
		Expiration: time.Hour, BoundPod: &BoundObject{Name: "p", UID: "pod-uid"}, BoundNode: &BoundObject{Name: "n1", UID: "node-uid"}})
	r := httptest.NewRequest("GET", "/api", nil)
	r.Header.Set("Authorization", "Bearer "+onNode)
	if u, ok, err := a.Authenticate(r); err != nil || !ok {
		t.Fatalf("token bound to a node: %v", err)
	} else {
		delete(u.Extra, "authentication.kubernetes.io/credential-id")
		want := map[string][]string{
			"authentication.kubernetes.io/pod-name": {"p"}, "authentication.kubernetes.io/pod-uid": {"pod-uid"},
			"authentication.kubernetes.io/node-name": {"n1"}, "authentication.kubernetes.io/node-uid": {"node-uid"},
		}
		if diff := cmp.Diff(want, u.Extra); diff != "" {
			t.Errorf("extra (-want +got):\n%s", diff)
		}
	}

	otherAud := issue(TokenRequest{Namespace: "ns1", ServiceAccount: "default", Audiences: []string{"vault"}, Expiration: time.Hour})
	if _, _, err := auth(otherAud); err == nil {
		t.Error("token for another audience accepted")
	}
	tampered := good[:len(good)-4] + "AAAA"
	if _, _, err := auth(tampered); err == nil {
		t.Error("tampered token accepted")
	}
	gone["pod-uid"] = true
	if _, _, err := auth(good); err == nil {
		t.Error("token of a deleted pod accepted")
	}
	delete(gone, "pod-uid")
	now = now.Add(2 * time.Hour)
	if _, _, err := auth(good); err == nil {
		t.Error("expired token accepted")
	}
	r = httptest.NewRequest("GET", "/api", nil)
	if _, ok, err := a.Authenticate(r); ok || err != nil {
		t.Errorf("no token: ok=%v err=%v, want not applicable", ok, err)
	}
}

// TestTokensKeySet checks verification with several keys: tokens signed by
// a retired key verify once it is verification-only, RSA keys sign RS256,
// and a key dropped from the set stops verifying its tokens.
func TestTokensKeySet(t *testing.T) {
	ec1, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ec2, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	tokens, err := NewTokens(ec1, "https://issuer.example")
	if err != nil {
		t.Fatal(err)
	}
	issue := func() string {
		tok, _, err := tokens.Issue(TokenRequest{Namespace: "ns", ServiceAccount: "sa", Audiences: []string{"a"}, Expiration: time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	byEC1 := issue()
	if err := tokens.SetKeys(rsaKey, []crypto.PublicKey{ec1.Public()}); err != nil {
		t.Fatal(err)
	}
	byRSA := issue()
	tests := []struct {
		name    string
		signer  crypto.Signer
		verify  []crypto.PublicKey
		token   string
		wantErr bool
	}{
		{"old key verification-only", rsaKey, []crypto.PublicKey{ec1.Public()}, byEC1, false},
		{"RS256 by the signing key", rsaKey, []crypto.PublicKey{ec1.Public()}, byRSA, false},
		{"RSA key verification-only", ec2, []crypto.PublicKey{rsaKey.Public()}, byRSA, false},
		{"old key dropped", ec2, []crypto.PublicKey{rsaKey.Public()}, byEC1, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tokens.SetKeys(tt.signer, tt.verify); err != nil {
				t.Fatal(err)
			}
			_, err := tokens.verify(tt.token, []string{"a"})
			if (err != nil) != tt.wantErr {
				t.Fatalf("verify: %v, want error %v", err, tt.wantErr)
			}
		})
	}
	if _, err := NewTokens(mustP384(t), "https://issuer.example"); err == nil {
		t.Error("a P-384 key was accepted for ES256")
	}
}

func mustP384(t *testing.T) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}
