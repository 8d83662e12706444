package pki

import (
	"crypto/subtle"
	"fmt"
	"regexp"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// Bootstrap tokens, as upstream keeps them: a Secret of type
// bootstrap.kubernetes.io/token named bootstrap-token-<id> in kube-system,
// presented as the bearer token <id>.<secret>.
const (
	BootstrapTokenSecretType     corev1.SecretType = "bootstrap.kubernetes.io/token"
	BootstrapTokenSecretPrefix                     = "bootstrap-token-"
	BootstrapTokenIDKey                            = "token-id"
	BootstrapTokenSecretKey                        = "token-secret"
	BootstrapTokenExpirationKey                    = "expiration"
	BootstrapTokenDescriptionKey                   = "description"
	BootstrapTokenExtraGroupsKey                   = "auth-extra-groups"
	// BootstrapTokenUsagePrefix starts the usage keys:
	// usage-bootstrap-authentication and usage-bootstrap-signing.
	BootstrapTokenUsagePrefix = "usage-bootstrap-"
	BootstrapTokenUsageAuth   = BootstrapTokenUsagePrefix + "authentication"
	BootstrapTokenUsageSign   = BootstrapTokenUsagePrefix + "signing"
	// BootstrapUserPrefix and BootstrapGroup name a token's user
	// (system:bootstrap:<id>) and its group.
	BootstrapUserPrefix = "system:bootstrap:"
	BootstrapGroup      = "system:bootstrappers"
)

var (
	bootstrapTokenRE      = regexp.MustCompile(`^([a-z0-9]{6})\.([a-z0-9]{16})$`)
	bootstrapExtraGroupRE = regexp.MustCompile(`^system:bootstrappers:[a-z0-9:-]{0,255}[a-z0-9]$`)
)

// ParseBootstrapToken splits a token of the form <id>.<secret>; ok is
// false for anything else.
func ParseBootstrapToken(token string) (id, secret string, ok bool) {
	m := bootstrapTokenRE.FindStringSubmatch(token)
	if m == nil {
		return "", "", false
	}
	return m[1], m[2], true
}

// CheckBootstrapToken checks the presented secret against the token's
// Secret s at now, and returns the user and groups it authenticates for
// usage (a usage key such as BootstrapTokenUsageAuth). It is pure.
func CheckBootstrapToken(s *corev1.Secret, id, secret, usage string, now time.Time) (user string, groups []string, err error) {
	if s == nil || s.Type != BootstrapTokenSecretType || s.Name != BootstrapTokenSecretPrefix+id {
		return "", nil, fmt.Errorf("no bootstrap token with id %q", id)
	}
	if s.DeletionTimestamp != nil {
		return "", nil, fmt.Errorf("bootstrap token %q is being deleted", id)
	}
	if string(s.Data[BootstrapTokenIDKey]) != id {
		return "", nil, fmt.Errorf("bootstrap token %q: its secret names another id", id)
	}
	if subtle.ConstantTimeCompare(s.Data[BootstrapTokenSecretKey], []byte(secret)) != 1 {
		return "", nil, fmt.Errorf("bootstrap token %q: wrong secret", id)
	}
	if exp := string(s.Data[BootstrapTokenExpirationKey]); exp != "" {
		t, err := time.Parse(time.RFC3339, exp)
		if err != nil {
			return "", nil, fmt.Errorf("bootstrap token %q: bad expiration %q", id, exp)
		}
		if !now.Before(t) {
			return "", nil, fmt.Errorf("bootstrap token %q expired at %s", id, exp)
		}
	}
	if string(s.Data[usage]) != "true" {
		return "", nil, fmt.Errorf("bootstrap token %q is not for %s", id, strings.TrimPrefix(usage, BootstrapTokenUsagePrefix))
	}
	groups = []string{BootstrapGroup}
	if extra := string(s.Data[BootstrapTokenExtraGroupsKey]); extra != "" {
		for g := range strings.SplitSeq(extra, ",") {
			g = strings.TrimSpace(g)
			if !bootstrapExtraGroupRE.MatchString(g) {
				return "", nil, fmt.Errorf("bootstrap token %q: extra group %q does not start with %s:", id, g, BootstrapGroup)
			}
			if g != BootstrapGroup {
				groups = append(groups, g)
			}
		}
	}
	return BootstrapUserPrefix + id, groups, nil
}
