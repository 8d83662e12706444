package oidc

import (
	"bytes"
	"context"
	"crypto"
	"crypto/sha256"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"reflect"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/google/cel-go/common/types"

	"skiff/internal/apiserver/auth"
)

var reflectStrings = reflect.TypeOf([]string(nil))

// Config configures an Authenticator.
type Config struct {
	// Path is the AuthenticationConfiguration file.
	Path string
	// DisallowedIssuers may not be JWT issuers: the service account
	// issuer, whose tokens another authenticator checks.
	DisallowedIssuers []string
	// ReloadInterval is how often Run looks for a changed file (default
	// one minute, as upstream).
	ReloadInterval time.Duration
	// Logger receives reload outcomes; nil discards.
	Logger *slog.Logger
	// Now is the clock tokens are checked against (default time.Now).
	Now func() time.Time
}

// Authenticator authenticates bearer JWTs of the issuers an
// AuthenticationConfiguration names. A token of any other issuer is not
// its business (false, no error), so that it can stand after the service
// account authenticator in the chain.
type Authenticator struct {
	cfg   Config
	state atomic.Pointer[state]
}

var _ auth.Authenticator = (*Authenticator)(nil)

// state is one loaded configuration.
type state struct {
	sum     [32]byte
	issuers []*issuer
}

type issuer struct {
	*compiledJWT
	keys *remoteKeys
}

// New reads, validates and compiles the file, and fails with every bad
// field (jwt[0].issuer.url: Invalid value: ...) if it is not valid.
// Issuers are contacted only when a token of theirs arrives.
func New(cfg Config) (*Authenticator, error) {
	if cfg.ReloadInterval == 0 {
		cfg.ReloadInterval = time.Minute
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	a := &Authenticator{cfg: cfg}
	st, err := a.load()
	if err != nil {
		return nil, err
	}
	a.state.Store(st)
	return a, nil
}

func (a *Authenticator) load() (*state, error) {
	c, data, err := ReadConfigFile(a.cfg.Path)
	if err != nil {
		return nil, err
	}
	compiled, err := compile(c, a.cfg.DisallowedIssuers)
	if err != nil {
		return nil, fmt.Errorf("authentication config %s: %w", a.cfg.Path, err)
	}
	st := &state{sum: sha256.Sum256(data)}
	for _, j := range compiled {
		tlsCfg := &tls.Config{RootCAs: j.caPool, MinVersion: tls.VersionTLS12}
		st.issuers = append(st.issuers, &issuer{compiledJWT: j, keys: newRemoteKeys(j.cfg.Issuer, tlsCfg, a.cfg.Now)})
	}
	return st, nil
}

// Run reloads the file when its content changes, until ctx is done. A
// file that does not validate is logged and the last good one stays.
func (a *Authenticator) Run(ctx context.Context) error {
	t := time.NewTicker(a.cfg.ReloadInterval)
	defer t.Stop()
	defer func() {
		for _, is := range a.state.Load().issuers {
			is.keys.close()
		}
	}()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		data, err := os.ReadFile(a.cfg.Path)
		if err != nil {
			a.cfg.Logger.Error("authentication config reload", "path", a.cfg.Path, "err", err)
			continue
		}
		old := a.state.Load()
		if sum := sha256.Sum256(data); bytes.Equal(sum[:], old.sum[:]) {
			continue
		}
		st, err := a.load()
		if err != nil {
			a.cfg.Logger.Error("authentication config reload", "path", a.cfg.Path, "err", err)
			continue
		}
		a.state.Store(st)
		for _, is := range old.issuers {
			is.keys.close()
		}
		a.cfg.Logger.Info("authentication config reloaded", "path", a.cfg.Path, "issuers", len(st.issuers))
	}
}

// Authenticate implements the API server's Authenticator.
func (a *Authenticator) Authenticate(r *http.Request) (*auth.User, bool, error) {
	token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	token = strings.TrimSpace(token)
	if !ok || token == "" {
		return nil, false, nil
	}
	iss, ok := untrustedIssuer(token)
	if !ok {
		return nil, false, nil
	}
	for _, is := range a.state.Load().issuers {
		if is.cfg.Issuer.URL == iss {
			u, err := is.authenticate(r.Context(), token, a.cfg.Now())
			if err != nil {
				return nil, false, err
			}
			return u, true, nil
		}
	}
	return nil, false, nil
}

// authenticate verifies token and maps its claims to a user, in
// upstream's order: signature and standard claims, username, groups, uid,
// extra, claim validation rules, user validation rules.
func (is *issuer) authenticate(ctx context.Context, token string, now time.Time) (*auth.User, error) {
	t, err := parseJWT(token)
	if err != nil {
		return nil, fmt.Errorf("oidc: verify token: %w", err)
	}
	if err := is.verify(ctx, t, now); err != nil {
		return nil, fmt.Errorf("oidc: verify token: %w", err)
	}
	claims := t.claims
	u := &auth.User{}
	if u.Name, err = is.mapUsername(claims); err != nil {
		return nil, err
	}
	if u.Groups, err = is.mapGroups(claims); err != nil {
		return nil, err
	}
	if u.UID, err = is.mapUID(claims); err != nil {
		return nil, err
	}
	for _, x := range is.extra {
		out, err := eval(x.prog, varClaims, claims)
		if err != nil {
			return nil, fmt.Errorf("oidc: error evaluating extra claim expression: %s: %w", x.expression, err)
		}
		vals, err := stringList(out)
		if err != nil {
			return nil, fmt.Errorf("oidc: error evaluating extra claim expression: %s: %w", x.expression, err)
		}
		if len(vals) > 0 {
			if u.Extra == nil {
				u.Extra = map[string][]string{}
			}
			u.Extra[x.key] = vals
		}
	}
	for _, r := range is.cfg.ClaimValidationRules {
		if r.Claim == "" {
			continue
		}
		v, present := claims[r.Claim]
		if !present {
			return nil, fmt.Errorf("oidc: required claim %s not present in ID token", r.Claim)
		}
		s, isString := v.(string)
		if !isString {
			return nil, fmt.Errorf("oidc: parse claim %s: not a string", r.Claim)
		}
		if s != r.RequiredValue {
			return nil, fmt.Errorf("oidc: required claim %s value does not match. Got = %s, want = %s", r.Claim, s, r.RequiredValue)
		}
	}
	for _, r := range is.claimRules {
		if err := checkRule(r, varClaims, claims); err != nil {
			return nil, fmt.Errorf("oidc: error evaluating claim validation expression: %w", err)
		}
	}
	if len(is.userRules) > 0 {
		extra := map[string]any{}
		for k, v := range u.Extra {
			extra[k] = v
		}
		groups := u.Groups
		if groups == nil {
			groups = []string{}
		}
		uv := map[string]any{"username": u.Name, "uid": u.UID, "groups": groups, "extra": extra}
		for _, r := range is.userRules {
			if err := checkRule(r, varUser, uv); err != nil {
				return nil, fmt.Errorf("oidc: error evaluating user info validation rule: %w", err)
			}
		}
	}
	// Every authenticated user is in system:authenticated, as upstream's
	// authenticator chain adds it.
	if !slices.Contains(u.Groups, auth.GroupAuthenticated) {
		u.Groups = append(u.Groups, auth.GroupAuthenticated)
	}
	return u, nil
}

// maxNotBeforeSkew is the leeway on nbf that the usual OIDC verifier
// allows for clocks that differ.
const maxNotBeforeSkew = 5 * time.Minute

func (is *issuer) verify(ctx context.Context, t *jwt, now time.Time) error {
	if _, ok := supportedAlgs[t.header.Alg]; !ok {
		return fmt.Errorf("oidc: id token signed with unsupported algorithm, expected one of RS256, RS384, RS512, ES256, ES384, ES512 got %q", t.header.Alg)
	}
	keys, err := is.keys.candidates(ctx, t.header.Kid)
	if err != nil {
		return fmt.Errorf("failed to verify signature: %w", err)
	}
	if !slices.ContainsFunc(keys, func(k crypto.PublicKey) bool { return verifySig(t.header.Alg, k, t.signed, t.sig) }) {
		return errors.New("failed to verify signature: failed to verify id token signature")
	}
	if iss, _ := t.claims["iss"].(string); iss != is.cfg.Issuer.URL {
		return fmt.Errorf("oidc: id token issued by a different provider, expected %q got %q", is.cfg.Issuer.URL, iss)
	}
	var aud []string
	switch v := t.claims["aud"].(type) {
	case string:
		aud = []string{v}
	case []any:
		for _, x := range v {
			if s, ok := x.(string); ok {
				aud = append(aud, s)
			}
		}
	}
	if !is.audiences.HasAny(aud...) {
		return fmt.Errorf("oidc: expected audience in %q got %q", sortedAudiences(is.cfg.Issuer.Audiences), aud)
	}
	exp, ok := numericDate(t.claims["exp"])
	if !ok {
		return errors.New("oidc: token has no expiry")
	}
	if now.After(exp) {
		return fmt.Errorf("oidc: token is expired (Token Expiry: %v)", exp)
	}
	if nbf, ok := numericDate(t.claims["nbf"]); ok && now.Add(maxNotBeforeSkew).Before(nbf) {
		return fmt.Errorf("oidc: current time %v before the nbf (not before) time: %v", now, nbf)
	}
	return nil
}

func sortedAudiences(a []string) []string {
	out := slices.Clone(a)
	slices.Sort(out)
	return out
}

func numericDate(v any) (time.Time, bool) {
	switch n := v.(type) {
	case int64:
		return time.Unix(n, 0), true
	case float64:
		return time.Unix(int64(n), 0), true
	}
	return time.Time{}, false
}

func (is *issuer) mapUsername(claims map[string]any) (string, error) {
	if is.username != nil {
		out, err := eval(is.username, varClaims, claims)
		if err != nil {
			return "", fmt.Errorf("oidc: error evaluating username claim expression: %w", err)
		}
		s, ok := out.(types.String)
		if !ok {
			return "", errors.New("oidc: error evaluating username claim expression: username claim expression must return a string")
		}
		if s == "" {
			return "", errors.New("oidc: empty username via CEL expression is not allowed")
		}
		return string(s), nil
	}
	m := is.cfg.ClaimMappings.Username
	name, ok := claims[m.Claim].(string)
	if !ok {
		if _, present := claims[m.Claim]; !present {
			return "", fmt.Errorf("oidc: parse username claims %q: claim not present", m.Claim)
		}
		return "", fmt.Errorf("oidc: parse username claims %q: not a string", m.Claim)
	}
	if is.usernameIsEmail {
		// As upstream: an email_verified claim, when present, must be true.
		if v, present := claims["email_verified"]; present {
			verified, isBool := v.(bool)
			if !isBool {
				return "", errors.New("oidc: parse 'email_verified' claim: not a boolean")
			}
			if !verified {
				return "", errors.New("oidc: email not verified")
			}
		}
	}
	if m.Prefix != nil {
		name = *m.Prefix + name
	}
	return name, nil
}

func (is *issuer) mapGroups(claims map[string]any) ([]string, error) {
	m := is.cfg.ClaimMappings.Groups
	if m.Claim != "" {
		v, present := claims[m.Claim]
		if !present {
			return nil, nil
		}
		var groups []string
		switch g := v.(type) {
		case string:
			groups = []string{g}
		case []any:
			for _, x := range g {
				s, ok := x.(string)
				if !ok {
					return nil, fmt.Errorf("oidc: parse groups claim %q: not a string or a list of strings", m.Claim)
				}
				groups = append(groups, s)
			}
		default:
			return nil, fmt.Errorf("oidc: parse groups claim %q: not a string or a list of strings", m.Claim)
		}
		if m.Prefix != nil {
			for i := range groups {
				groups[i] = *m.Prefix + groups[i]
			}
		}
		return groups, nil
	}
	if is.groups == nil {
		return nil, nil
	}
	out, err := eval(is.groups, varClaims, claims)
	if err != nil {
		return nil, fmt.Errorf("oidc: error evaluating group claim expression: %w", err)
	}
	groups, err := stringList(out)
	if err != nil {
		return nil, fmt.Errorf("oidc: error evaluating group claim expression: %w", err)
	}
	return groups, nil
}

func (is *issuer) mapUID(claims map[string]any) (string, error) {
	if c := is.cfg.ClaimMappings.UID.Claim; c != "" {
		s, ok := claims[c].(string)
		if !ok {
			return "", fmt.Errorf("oidc: parse uid claim %q: not a string", c)
		}
		return s, nil
	}
	if is.uid == nil {
		return "", nil
	}
	out, err := eval(is.uid, varClaims, claims)
	if err != nil {
		return "", fmt.Errorf("oidc: error evaluating uid claim expression: %w", err)
	}
	s, ok := out.(types.String)
	if !ok {
		return "", errors.New("oidc: error evaluating uid claim expression: uid claim expression must return a string")
	}
	return string(s), nil
}
