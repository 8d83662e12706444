package apiserver

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	authenticationv1 "k8s.io/api/authentication/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"

	"skiff/internal/apiserver/auth"
)

// Impersonation, as upstream: a caller allowed to "impersonate" users,
// groups, uids, service accounts or user extras sends
// Impersonate-User (required for the others), Impersonate-Group (one or
// more), Impersonate-Uid and Impersonate-Extra-<key>, and the request then
// runs as that user. kubectl --as and client-go's ImpersonationConfig use
// it.

const (
	headerImpersonateUser   = "Impersonate-User"
	headerImpersonateGroup  = "Impersonate-Group"
	headerImpersonateUID    = "Impersonate-Uid"
	headerImpersonateExtra  = "Impersonate-Extra-"
	serviceAccountUserStart = "system:serviceaccount:"
)

// impersonate returns the user a request acts as: user itself, or the one
// it impersonates once user may impersonate each part of it. It removes
// the impersonation headers from r.
func (s *Server) impersonate(ctx context.Context, r *http.Request, user *auth.User) (*auth.User, error) {
	name := r.Header.Get(headerImpersonateUser)
	groups := r.Header.Values(headerImpersonateGroup)
	uid := r.Header.Get(headerImpersonateUID)
	extra := map[string][]string{}
	for k, vs := range r.Header {
		if !strings.HasPrefix(k, headerImpersonateExtra) {
			continue
		}
		key, err := url.PathUnescape(strings.TrimPrefix(k, headerImpersonateExtra))
		if err != nil {
			return nil, apierrors.NewBadRequest(fmt.Sprintf("malformed %s header %q", headerImpersonateExtra, k))
		}
		extra[strings.ToLower(key)] = vs
	}
	if name == "" {
		if len(groups) > 0 || uid != "" || len(extra) > 0 {
			return nil, apierrors.NewBadRequest("requested impersonation of groups, a uid or extras without impersonating a user")
		}
		return user, nil
	}
	var checks []auth.Attributes
	out := &auth.User{Name: name, UID: uid, Extra: extra}
	if ns, sa, ok := serviceAccountName(name); ok {
		checks = append(checks, auth.Attributes{Resource: "serviceaccounts", Namespace: ns, Name: sa})
		if len(groups) == 0 {
			out.Groups = []string{"system:serviceaccounts", "system:serviceaccounts:" + ns}
		}
	} else {
		checks = append(checks, auth.Attributes{Resource: "users", Name: name})
	}
	for _, g := range groups {
		checks = append(checks, auth.Attributes{Resource: "groups", Name: g})
	}
	out.Groups = append(out.Groups, groups...)
	if uid != "" {
		checks = append(checks, auth.Attributes{APIGroup: authenticationv1.GroupName, Resource: "uids", Name: uid})
	}
	for k, vs := range extra {
		for _, v := range vs {
			checks = append(checks, auth.Attributes{APIGroup: authenticationv1.GroupName, Resource: "userextras", Subresource: k, Name: v})
		}
	}
	if s.cfg.Authorizer != nil {
		for _, a := range checks {
			a.User, a.Verb, a.ResourceRequest, a.APIVersion = user, "impersonate", true, "v1"
			ok, reason, err := s.cfg.Authorizer.Authorize(ctx, a)
			if err != nil || !ok {
				return nil, forbidden(a, reason)
			}
		}
	}
	if name != "system:anonymous" {
		authenticated := true
		for _, g := range out.Groups {
			if g == "system:authenticated" || g == "system:unauthenticated" {
				authenticated = false
			}
		}
		if authenticated {
			out.Groups = append(out.Groups, "system:authenticated")
		}
	}
	for k := range r.Header {
		if k == headerImpersonateUser || k == headerImpersonateGroup || k == headerImpersonateUID || strings.HasPrefix(k, headerImpersonateExtra) {
			r.Header.Del(k)
		}
	}
	return out, nil
}

// serviceAccountName splits system:serviceaccount:<ns>:<name>.
func serviceAccountName(user string) (namespace, name string, ok bool) {
	rest, found := strings.CutPrefix(user, serviceAccountUserStart)
	if !found {
		return "", "", false
	}
	namespace, name, ok = strings.Cut(rest, ":")
	return namespace, name, ok && namespace != "" && name != "" && !strings.Contains(name, ":")
}
