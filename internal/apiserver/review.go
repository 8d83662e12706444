package apiserver

import (
	"fmt"
	"mime"
	"net/http"
	"strings"

	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/selection"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"skiff/internal/apiserver/auth"
	"skiff/internal/apiserver/registry/reviews"
)

// This file serves the review resources (package reviews): a POST of a
// TokenReview, SelfSubjectReview or *SubjectAccessReview is answered with
// its status filled in by the server's own authenticator and authorizer,
// and nothing is stored.

// handleReview serves one request to a review resource.
func (s *Server) handleReview(w http.ResponseWriter, r *http.Request, res *resource, info requestInfo) {
	if info.verb != "create" || info.name != "" {
		s.writeError(w, r, apierrors.NewMethodNotSupported(res.groupResource(), info.verb))
		return
	}
	// Reviews have no Table or metadata-only form: such Accept entries are
	// skipped, and a request offering nothing else is answered 406.
	var keep []string
	for _, part := range strings.Split(r.Header.Get("Accept"), ",") {
		if _, params, err := mime.ParseMediaType(strings.TrimSpace(part)); err == nil && params["as"] != "" {
			continue
		}
		keep = append(keep, part)
	}
	if r.Header.Get("Accept") != "" && len(keep) == 0 {
		s.writeError(w, r, errNotAcceptable("only the following media types are accepted: application/json, application/yaml, application/vnd.kubernetes.protobuf"))
		return
	}
	r.Header.Set("Accept", strings.Join(keep, ","))
	t, ok := s.target(w, r)
	if !ok {
		return
	}
	obj, _, err := s.decodeRequest(w, r, res.gvk, res.New())
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	out, err := s.review(r, res, info, obj)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	setGVK(out, res.gvk)
	s.writeObject(w, r, t, http.StatusCreated, out)
}

// review fills in obj's status.
func (s *Server) review(r *http.Request, res *resource, info requestInfo, obj runtime.Object) (runtime.Object, error) {
	caller := userFrom(r.Context())
	switch o := obj.(type) {
	case *authenticationv1.TokenReview:
		if o.Spec.Token == "" {
			return nil, invalid(res, o.Name, field.ErrorList{field.Required(field.NewPath("spec", "token"), "")})
		}
		o.Status = s.reviewToken(r, o.Spec.Token)
		return o, nil
	case *authenticationv1.SelfSubjectReview:
		if caller != nil {
			o.Status.UserInfo = userInfoOf(caller)
		}
		return o, nil
	case *authorizationv1.SubjectAccessReview:
		if o.Spec.User == "" && len(o.Spec.Groups) == 0 {
			return nil, invalid(res, o.Name, field.ErrorList{field.Invalid(field.NewPath("spec", "user"), o.Spec.User, "at least one of user or group must be specified")})
		}
		if errs := validateAccessSpec(o.Spec.ResourceAttributes, o.Spec.NonResourceAttributes); len(errs) > 0 {
			return nil, invalid(res, o.Name, errs)
		}
		u := &auth.User{Name: o.Spec.User, UID: o.Spec.UID, Groups: o.Spec.Groups, Extra: extraOf(o.Spec.Extra)}
		o.Status = s.reviewAccess(r, u, o.Spec.ResourceAttributes, o.Spec.NonResourceAttributes)
		return o, nil
	case *authorizationv1.LocalSubjectAccessReview:
		errs := validateAccessSpec(o.Spec.ResourceAttributes, o.Spec.NonResourceAttributes)
		if o.Spec.ResourceAttributes == nil || o.Spec.NonResourceAttributes != nil {
			errs = append(errs, field.Invalid(field.NewPath("spec", "nonResourceAttributes"), o.Spec.NonResourceAttributes, "disallowed on this kind of request"))
		} else if o.Spec.ResourceAttributes.Namespace != info.namespace {
			errs = append(errs, field.Invalid(field.NewPath("spec", "resourceAttributes", "namespace"), o.Spec.ResourceAttributes.Namespace, "must match metadata.namespace"))
		}
		if o.Spec.User == "" && len(o.Spec.Groups) == 0 {
			errs = append(errs, field.Invalid(field.NewPath("spec", "user"), o.Spec.User, "at least one of user or group must be specified"))
		}
		if len(errs) > 0 {
			return nil, invalid(res, o.Name, errs)
		}
		o.Namespace = info.namespace
		u := &auth.User{Name: o.Spec.User, UID: o.Spec.UID, Groups: o.Spec.Groups, Extra: extraOf(o.Spec.Extra)}
		o.Status = s.reviewAccess(r, u, o.Spec.ResourceAttributes, o.Spec.NonResourceAttributes)
		return o, nil
	case *authorizationv1.SelfSubjectAccessReview:
		if errs := validateAccessSpec(o.Spec.ResourceAttributes, o.Spec.NonResourceAttributes); len(errs) > 0 {
			return nil, invalid(res, o.Name, errs)
		}
		if caller == nil {
			caller = &auth.User{Name: "system:anonymous", Groups: []string{"system:unauthenticated"}}
		}
		o.Status = s.reviewAccess(r, caller, o.Spec.ResourceAttributes, o.Spec.NonResourceAttributes)
		return o, nil
	}
	return nil, apierrors.NewInternalError(fmt.Errorf("no review for %T", obj))
}

// reviewToken authenticates a bearer token as a request carrying it would be.
func (s *Server) reviewToken(r *http.Request, token string) authenticationv1.TokenReviewStatus {
	if s.cfg.Authenticator == nil {
		return authenticationv1.TokenReviewStatus{Error: "no authenticator configured"}
	}
	probe, err := http.NewRequestWithContext(r.Context(), http.MethodGet, "/", nil)
	if err != nil {
		return authenticationv1.TokenReviewStatus{Error: err.Error()}
	}
	probe.Header.Set("Authorization", "Bearer "+token)
	u, ok, err := s.cfg.Authenticator.Authenticate(probe)
	switch {
	case err != nil:
		return authenticationv1.TokenReviewStatus{Error: err.Error()}
	case !ok || u == nil:
		return authenticationv1.TokenReviewStatus{}
	}
	return authenticationv1.TokenReviewStatus{Authenticated: true, User: userInfoOf(u)}
}

// reviewAccess asks the authorizer whether u may do what the attributes say.
func (s *Server) reviewAccess(r *http.Request, u *auth.User, ra *authorizationv1.ResourceAttributes, nra *authorizationv1.NonResourceAttributes) authorizationv1.SubjectAccessReviewStatus {
	if s.cfg.Authorizer == nil {
		return authorizationv1.SubjectAccessReviewStatus{Allowed: true, Reason: "no authorizer configured"}
	}
	a := auth.Attributes{User: u}
	if ra != nil {
		a.ResourceRequest = true
		a.Verb, a.Namespace, a.APIGroup, a.APIVersion = ra.Verb, ra.Namespace, ra.Group, ra.Version
		a.Resource, a.Subresource, a.Name = ra.Resource, ra.Subresource, ra.Name
		a.Fields = reviewFields(ra.FieldSelector)
	} else {
		a.Verb, a.Path = nra.Verb, nra.Path
	}
	allowed, reason, err := s.cfg.Authorizer.Authorize(r.Context(), a)
	st := authorizationv1.SubjectAccessReviewStatus{Allowed: allowed, Reason: reason}
	if err != nil {
		st.EvaluationError = err.Error()
	}
	return st
}

// reviewFields turns a review's field selector into requirements: the raw
// selector, or the requirements that name one value (In and NotIn with
// more, and Exists, select no single object and are left out, as upstream
// leaves out what it cannot express as a field selector).
func reviewFields(fs *authorizationv1.FieldSelectorAttributes) fields.Requirements {
	if fs == nil {
		return nil
	}
	if fs.RawSelector != "" {
		sel, err := fields.ParseSelector(fs.RawSelector)
		if err != nil {
			return nil
		}
		return sel.Requirements()
	}
	var out fields.Requirements
	for _, r := range fs.Requirements {
		if len(r.Values) != 1 {
			continue
		}
		switch r.Operator {
		case metav1.FieldSelectorOpIn:
			out = append(out, fields.Requirement{Field: r.Key, Operator: selection.Equals, Value: r.Values[0]})
		case metav1.FieldSelectorOpNotIn:
			out = append(out, fields.Requirement{Field: r.Key, Operator: selection.NotEquals, Value: r.Values[0]})
		}
	}
	return out
}

// validateAccessSpec checks that exactly one of the attribute sets is given.
func validateAccessSpec(ra *authorizationv1.ResourceAttributes, nra *authorizationv1.NonResourceAttributes) field.ErrorList {
	p := field.NewPath("spec")
	switch {
	case ra == nil && nra == nil:
		return field.ErrorList{field.Required(p.Child("resourceAttributes"), "exactly one of nonResourceAttributes or resourceAttributes must be specified")}
	case ra != nil && nra != nil:
		return field.ErrorList{field.Invalid(p.Child("resourceAttributes"), ra, "cannot be specified in combination with nonResourceAttributes")}
	}
	return nil
}

func userInfoOf(u *auth.User) authenticationv1.UserInfo {
	info := authenticationv1.UserInfo{Username: u.Name, UID: u.UID, Groups: u.Groups}
	if len(u.Extra) > 0 {
		info.Extra = map[string]authenticationv1.ExtraValue{}
		for k, v := range u.Extra {
			info.Extra[k] = v
		}
	}
	return info
}

func extraOf(extra map[string]authorizationv1.ExtraValue) map[string][]string {
	if len(extra) == 0 {
		return nil
	}
	out := make(map[string][]string, len(extra))
	for k, v := range extra {
		out[k] = v
	}
	return out
}

// isReviewResource reports whether res is served by handleReview.
func isReviewResource(res *resource) bool {
	return res.custom == nil && reviews.IsReview(res.gvr)
}
