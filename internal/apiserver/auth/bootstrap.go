package auth

import (
	"errors"
	"net/http"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"

	"skiff/internal/pki"
)

// BootstrapTokens authenticates bearer tokens of the form <id>.<secret>
// against the bootstrap token Secrets in kube-system, as upstream's
// bootstrap token authenticator does. Other bearer tokens are left to the
// next authenticator; a bootstrap token that fails (unknown, wrong secret,
// expired, not for authentication) is refused.
type BootstrapTokens struct {
	// Secret returns kube-system/<name>, or false.
	Secret func(name string) (*corev1.Secret, bool)
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

var _ Authenticator = (*BootstrapTokens)(nil)

// Authenticate implements the API server's Authenticator.
func (b *BootstrapTokens) Authenticate(r *http.Request) (*User, bool, error) {
	token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok {
		return nil, false, nil
	}
	id, secret, ok := pki.ParseBootstrapToken(strings.TrimSpace(token))
	if !ok {
		return nil, false, nil
	}
	s, _ := b.Secret(pki.BootstrapTokenSecretPrefix + id)
	now := time.Now
	if b.Now != nil {
		now = b.Now
	}
	user, groups, err := pki.CheckBootstrapToken(s, id, secret, pki.BootstrapTokenUsageAuth, now())
	if err != nil {
		return nil, false, errors.New("invalid bootstrap token")
	}
	return &User{Name: user, Groups: append(groups, GroupAuthenticated)}, true, nil
}
