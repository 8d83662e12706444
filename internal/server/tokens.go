package server

import (
	"context"
	"crypto/rand"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/client-go/kubernetes"

	"skiff/internal/pki"
)

// BootstrapTokenOptions describe a new bootstrap token.
type BootstrapTokenOptions struct {
	// TTL is how long it lasts; 0 means for ever.
	TTL time.Duration
	// Description is free text for people.
	Description string
	// Groups are extra groups (system:bootstrappers:...) it authenticates
	// as, besides system:bootstrappers.
	Groups []string
}

// BootstrapToken is one listed bootstrap token.
type BootstrapToken struct {
	// Token is <id>.<secret>.
	Token       string
	Expires     *time.Time
	Usages      []string
	Description string
	Groups      []string
}

// tokenChars are the characters of bootstrap token ids and secrets.
const tokenChars = "abcdefghijklmnopqrstuvwxyz0123456789"

func randomTokenPart(n int) (string, error) {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	for i := range b {
		b[i] = tokenChars[int(b[i])%len(tokenChars)]
	}
	return string(b), nil
}

// CreateBootstrapToken stores a new bootstrap token (usable to join and to
// authenticate, as upstream's default node tokens are) and returns it as a
// join token for the cluster whose CA is caPEM.
func CreateBootstrapToken(ctx context.Context, client kubernetes.Interface, caPEM []byte, opts BootstrapTokenOptions) (pki.JoinToken, error) {
	block, _ := pem.Decode(caPEM)
	if block == nil {
		return pki.JoinToken{}, errors.New("no CA certificate to name in the token")
	}
	for _, g := range opts.Groups {
		if !strings.HasPrefix(g, pki.BootstrapGroup+":") {
			return pki.JoinToken{}, fmt.Errorf("group %q: extra groups must start with %s:", g, pki.BootstrapGroup)
		}
	}
	if opts.TTL < 0 {
		return pki.JoinToken{}, fmt.Errorf("--ttl %s: must not be negative", opts.TTL)
	}
	for range 5 {
		id, err := randomTokenPart(6)
		if err != nil {
			return pki.JoinToken{}, err
		}
		secret, err := randomTokenPart(16)
		if err != nil {
			return pki.JoinToken{}, err
		}
		s := &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Name: pki.BootstrapTokenSecretPrefix + id, Namespace: metav1.NamespaceSystem},
			Type:       pki.BootstrapTokenSecretType,
			Data: map[string][]byte{
				pki.BootstrapTokenIDKey: []byte(id), pki.BootstrapTokenSecretKey: []byte(secret),
				pki.BootstrapTokenUsageAuth: []byte("true"), pki.BootstrapTokenUsageSign: []byte("true"),
			},
		}
		if opts.TTL > 0 {
			s.Data[pki.BootstrapTokenExpirationKey] = []byte(time.Now().Add(opts.TTL).UTC().Format(time.RFC3339))
		}
		if opts.Description != "" {
			s.Data[pki.BootstrapTokenDescriptionKey] = []byte(opts.Description)
		}
		if len(opts.Groups) > 0 {
			s.Data[pki.BootstrapTokenExtraGroupsKey] = []byte(strings.Join(opts.Groups, ","))
		}
		_, err = client.CoreV1().Secrets(metav1.NamespaceSystem).Create(ctx, s, metav1.CreateOptions{})
		if apierrors.IsAlreadyExists(err) {
			continue // that id is taken: draw another
		}
		if err != nil {
			return pki.JoinToken{}, err
		}
		return pki.JoinToken{CAHash: pki.CertHash(block.Bytes), Secret: id + "." + secret}, nil
	}
	return pki.JoinToken{}, errors.New("no free token id after 5 tries")
}

// ListBootstrapTokens returns the bootstrap tokens, oldest first.
func ListBootstrapTokens(ctx context.Context, client kubernetes.Interface) ([]BootstrapToken, error) {
	list, err := client.CoreV1().Secrets(metav1.NamespaceSystem).List(ctx, metav1.ListOptions{
		FieldSelector: fields.OneTermEqualSelector("type", string(pki.BootstrapTokenSecretType)).String()})
	if err != nil {
		return nil, err
	}
	items := list.Items
	slices.SortFunc(items, func(a, b corev1.Secret) int { return a.CreationTimestamp.Compare(b.CreationTimestamp.Time) })
	var out []BootstrapToken
	for _, s := range items {
		id := string(s.Data[pki.BootstrapTokenIDKey])
		if s.Name != pki.BootstrapTokenSecretPrefix+id {
			continue
		}
		t := BootstrapToken{Token: id + "." + string(s.Data[pki.BootstrapTokenSecretKey]),
			Description: string(s.Data[pki.BootstrapTokenDescriptionKey])}
		if raw := string(s.Data[pki.BootstrapTokenExpirationKey]); raw != "" {
			if at, err := time.Parse(time.RFC3339, raw); err == nil {
				t.Expires = &at
			}
		}
		for k, v := range s.Data {
			if u, ok := strings.CutPrefix(k, pki.BootstrapTokenUsagePrefix); ok && string(v) == "true" {
				t.Usages = append(t.Usages, u)
			}
		}
		slices.Sort(t.Usages)
		if g := string(s.Data[pki.BootstrapTokenExtraGroupsKey]); g != "" {
			t.Groups = strings.Split(g, ",")
		}
		out = append(out, t)
	}
	return out, nil
}

// DeleteBootstrapToken deletes the bootstrap token with the id given
// alone, as <id>.<secret>, or inside a join token.
func DeleteBootstrapToken(ctx context.Context, client kubernetes.Interface, token string) error {
	if _, rest, ok := strings.Cut(token, "::"); ok {
		if _, s, ok := strings.Cut(rest, "::"); ok {
			token = s
		}
	}
	id, _, _ := strings.Cut(token, ".")
	if _, _, ok := pki.ParseBootstrapToken(id + ".0000000000000000"); !ok {
		return fmt.Errorf("%q is not a bootstrap token id (6 characters of [a-z0-9])", id)
	}
	err := client.CoreV1().Secrets(metav1.NamespaceSystem).Delete(ctx, pki.BootstrapTokenSecretPrefix+id, metav1.DeleteOptions{})
	if apierrors.IsNotFound(err) {
		return fmt.Errorf("bootstrap token %q not found", id)
	}
	return err
}

// RotateJoinToken replaces the server's static join token (in dataDir) by
// secret, or a new random one, and rewrites <data-dir>/node-token. The
// running server takes it at its next join; nodes that already joined keep
// their certificates.
func RotateJoinToken(dataDir, secret string) (pki.JoinToken, error) {
	tlsDir := filepath.Join(dataDir, "tls")
	// A data dir without a CA is no server's: make none there.
	if _, err := os.Stat(filepath.Join(tlsDir, "ca.crt")); err != nil {
		return pki.JoinToken{}, fmt.Errorf("no cluster CA in %s: %w", tlsDir, err)
	}
	ca, err := pki.LoadOrCreateCA(tlsDir)
	if err != nil {
		return pki.JoinToken{}, err
	}
	t, err := ca.RotateJoinToken(tlsDir, secret)
	if err != nil {
		return pki.JoinToken{}, err
	}
	if err := os.WriteFile(filepath.Join(dataDir, "node-token"), []byte(t.String()+"\n"), 0o600); err != nil {
		return pki.JoinToken{}, err
	}
	return t, nil
}
