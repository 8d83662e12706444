package auth

import (
	"context"
	"net/http"

	"skiff/internal/apiserver"
)

// Groups every authenticated user belongs to, and the superuser group.
const (
	GroupAuthenticated = "system:authenticated"
	GroupMasters       = "system:masters"
)

// X509 authenticates by the client certificate the TLS layer verified
// against the client CA.
type X509 struct{}

var _ apiserver.Authenticator = X509{}

// Authenticate implements apiserver.Authenticator.
func (X509) Authenticate(r *http.Request) (*apiserver.User, bool, error) {
	if r.TLS == nil || len(r.TLS.VerifiedChains) == 0 || len(r.TLS.VerifiedChains[0]) == 0 {
		return nil, false, nil
	}
	cert := r.TLS.VerifiedChains[0][0]
	if cert.Subject.CommonName == "" {
		return nil, false, nil
	}
	groups := append([]string(nil), cert.Subject.Organization...)
	groups = append(groups, GroupAuthenticated)
	return &apiserver.User{Name: cert.Subject.CommonName, Groups: groups}, true, nil
}

// Union tries each authenticator in order; the first that recognises the
// credentials decides.
type Union []apiserver.Authenticator

var _ apiserver.Authenticator = Union(nil)

// Authenticate implements apiserver.Authenticator.
func (u Union) Authenticate(r *http.Request) (*apiserver.User, bool, error) {
	for _, a := range u {
		user, ok, err := a.Authenticate(r)
		if err != nil || ok {
			return user, ok, err
		}
	}
	return nil, false, nil
}

// Masters allows members of system:masters everything and everyone else
// nothing; it stands until RBAC is installed before it.
type Masters struct{}

var _ apiserver.Authorizer = Masters{}

// Authorize implements apiserver.Authorizer.
func (Masters) Authorize(_ context.Context, a apiserver.Attributes) (bool, string, error) {
	if a.User != nil {
		for _, g := range a.User.Groups {
			if g == GroupMasters {
				return true, "", nil
			}
		}
	}
	return false, "", nil
}
