package auth

import (
	"context"
	"net/http"

	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
)

// Groups every authenticated user belongs to, and the superuser group.
const (
	GroupAuthenticated = "system:authenticated"
	GroupMasters       = "system:masters"
)

// User is an authenticated caller.
type User struct {
	Name   string
	UID    string
	Groups []string
	Extra  map[string][]string
}

// Attributes describe a request for authorization.
type Attributes struct {
	User        *User
	Verb        string
	Namespace   string
	APIGroup    string
	APIVersion  string
	Resource    string
	Subresource string
	Name        string
	// Fields is the field selector of a list or watch, which the Node
	// authorizer reads (pods with spec.nodeName=<node>).
	Fields fields.Requirements
	// Labels is the label selector of a list or watch (upstream's
	// LabelSelectorRequirements), which the Node authorizer reads
	// (persistentvolumes with skiff.io/local-path-node=<node>).
	Labels labels.Requirements
	// Path is set for non-resource requests.
	Path string
	// ResourceRequest is false for /healthz, /version and the like.
	ResourceRequest bool
}

// Authenticator says who sent a request; the API server's
// Config.Authenticator is one.
type Authenticator interface {
	// Authenticate returns the user, false if the request carries no
	// credentials this authenticator understands, or an error for bad ones.
	Authenticate(r *http.Request) (*User, bool, error)
}

// Authorizer decides whether a request may proceed; the API server's
// Config.Authorizer is one.
type Authorizer interface {
	// Authorize returns whether a is allowed and, when not, why.
	Authorize(ctx context.Context, a Attributes) (allowed bool, reason string, err error)
}

// X509 authenticates by the client certificate the TLS layer verified
// against the client CA.
type X509 struct{}

var _ Authenticator = X509{}

// Authenticate implements the API server's Authenticator.
func (X509) Authenticate(r *http.Request) (*User, bool, error) {
	if r.TLS == nil || len(r.TLS.VerifiedChains) == 0 || len(r.TLS.VerifiedChains[0]) == 0 {
		return nil, false, nil
	}
	cert := r.TLS.VerifiedChains[0][0]
	if cert.Subject.CommonName == "" {
		return nil, false, nil
	}
	groups := append([]string(nil), cert.Subject.Organization...)
	groups = append(groups, GroupAuthenticated)
	return &User{Name: cert.Subject.CommonName, Groups: groups}, true, nil
}

// Union tries each authenticator in order; the first that recognises the
// credentials decides.
type Union []Authenticator

var _ Authenticator = Union(nil)

// Authenticate implements the API server's Authenticator.
func (u Union) Authenticate(r *http.Request) (*User, bool, error) {
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

var _ Authorizer = Masters{}

// Authorize implements the API server's Authorizer.
func (Masters) Authorize(_ context.Context, a Attributes) (bool, string, error) {
	if a.User != nil {
		for _, g := range a.User.Groups {
			if g == GroupMasters {
				return true, "", nil
			}
		}
	}
	return false, "", nil
}
