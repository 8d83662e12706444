package apiserver

import (
	"context"
	"fmt"
	"net/http"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"skiff/internal/apiserver/auth"
)

// TokenIssuer signs service account tokens (serviceaccounts/token).
type TokenIssuer interface {
	// Issue returns a signed token and when it expires.
	Issue(req auth.TokenRequest) (string, time.Time, error)
	// DefaultAudiences are the audiences of a request that names none:
	// the API server's own.
	DefaultAudiences() []string
}

// IssuerDiscovery is what a TokenIssuer offers that outside parties can
// check its tokens with: the OpenID Connect discovery document and the
// JSON Web Key Set it points to, served at auth.OpenIDConfigurationPath
// and auth.JWKSPath.
type IssuerDiscovery interface {
	OpenIDConfiguration() ([]byte, error)
	JWKS() ([]byte, error)
}

var _ IssuerDiscovery = (*auth.Tokens)(nil)

// Token lifetimes upstream allows.
const (
	minTokenExpiration     = 10 * time.Minute
	defaultTokenExpiration = time.Hour
)

// handleTokenRequest serves POST serviceaccounts/{name}/token.
func (s *Server) handleTokenRequest(w http.ResponseWriter, r *http.Request, res *resource, info requestInfo) {
	if s.cfg.Tokens == nil {
		s.writeError(w, r, apierrors.NewMethodNotSupported(schema.GroupResource{Resource: "serviceaccounts/token"}, "create"))
		return
	}
	obj, _, err := s.decodeRequest(w, r, authenticationv1.SchemeGroupVersion.WithKind("TokenRequest"), &authenticationv1.TokenRequest{})
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	tr := obj.(*authenticationv1.TokenRequest)
	saObj, err := s.readObject(r.Context(), res, info.namespace, info.name)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	sa := saObj.(*corev1.ServiceAccount)
	admitted, err := s.admitSubresourceCreate(r.Context(), res, "token", authenticationv1.SchemeGroupVersion.WithKind("TokenRequest"),
		info.namespace, info.name, tr, false)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	tr = admitted.(*authenticationv1.TokenRequest)
	exp := defaultTokenExpiration
	if tr.Spec.ExpirationSeconds != nil {
		exp = time.Duration(*tr.Spec.ExpirationSeconds) * time.Second
	}
	var errs field.ErrorList
	if exp < minTokenExpiration {
		errs = append(errs, field.Invalid(field.NewPath("spec", "expirationSeconds"), exp.Seconds(), "may not specify a duration less than 10 minutes"))
	}
	if exp > 1<<32*time.Second {
		errs = append(errs, field.TooLong(field.NewPath("spec", "expirationSeconds"), exp.Seconds(), 1<<32))
	}
	if len(errs) > 0 {
		s.writeError(w, r, apierrors.NewInvalid(schema.GroupKind{Group: "authentication.k8s.io", Kind: "TokenRequest"}, info.name, errs))
		return
	}
	req := auth.TokenRequest{Namespace: info.namespace, ServiceAccount: info.name, ServiceAccountUID: sa.UID,
		Audiences: tr.Spec.Audiences, Expiration: exp}
	if len(req.Audiences) == 0 {
		req.Audiences = s.cfg.Tokens.DefaultAudiences()
	}
	if ref := tr.Spec.BoundObjectRef; ref != nil {
		if err := s.bindToken(r.Context(), info.namespace, ref, &req); err != nil {
			s.writeError(w, r, err)
			return
		}
	}
	token, expires, err := s.cfg.Tokens.Issue(req)
	if err != nil {
		s.writeError(w, r, apierrors.NewInternalError(err))
		return
	}
	out := tr.DeepCopy()
	out.TypeMeta = metav1.TypeMeta{Kind: "TokenRequest", APIVersion: "authentication.k8s.io/v1"}
	out.Name, out.Namespace, out.CreationTimestamp = info.name, info.namespace, metav1.Now()
	out.Spec.Audiences = req.Audiences
	secs := int64(exp.Seconds())
	out.Spec.ExpirationSeconds = &secs
	out.Status = authenticationv1.TokenRequestStatus{Token: token, ExpirationTimestamp: metav1.NewTime(expires)}
	t, _ := negotiate(r)
	s.writeObject(w, r, target{media: t.media}, http.StatusCreated, out)
}

// bindToken checks the object a token is bound to and records it.
func (s *Server) bindToken(ctx context.Context, namespace string, ref *authenticationv1.BoundObjectReference, req *auth.TokenRequest) error {
	path := field.NewPath("spec", "boundObjectRef")
	switch ref.Kind {
	case "Pod":
		pods, _ := s.lookup("", "v1", "pods")
		obj, err := s.readObject(ctx, pods, namespace, ref.Name)
		if err != nil {
			return err
		}
		pod := obj.(*corev1.Pod)
		if ref.UID != "" && ref.UID != pod.UID {
			return apierrors.NewConflict(schema.GroupResource{Resource: "pods"}, ref.Name, fmt.Errorf("the UID in the bound object reference (%s) does not match the UID in record. The object might have been deleted and then recreated", ref.UID))
		}
		if pod.Spec.ServiceAccountName != "" && pod.Spec.ServiceAccountName != req.ServiceAccount {
			return apierrors.NewBadRequest(fmt.Sprintf("cannot bind token for serviceaccount %q to pod running with different serviceaccount name.", req.ServiceAccount))
		}
		req.BoundPod = &auth.BoundObject{Name: pod.Name, UID: pod.UID}
		if pod.Spec.NodeName != "" {
			req.BoundNode = &auth.BoundObject{Name: pod.Spec.NodeName}
			nodes, _ := s.lookup("", "v1", "nodes")
			if e, ok := s.cache.Get(nodes.bucket, nodes.key("", pod.Spec.NodeName)); ok {
				req.BoundNode.UID = accessor(e.Object).GetUID()
			}
		}
		return nil
	case "Secret", "Node":
		return nil
	}
	return apierrors.NewInvalid(schema.GroupKind{Group: "authentication.k8s.io", Kind: "TokenRequest"}, req.ServiceAccount,
		field.ErrorList{field.NotSupported(path.Child("kind"), ref.Kind, []string{"Pod", "Secret", "Node"})})
}

// Object returns a live object from the watch cache: for components that
// share the process (token checks, RBAC).
func (s *Server) Object(group, version, resourceName, namespace, name string) (runtime.Object, bool) {
	res, ok := s.lookup(group, version, resourceName)
	if !ok {
		return nil, false
	}
	e, ok := s.cache.Get(res.bucket, res.key(namespace, name))
	if !ok {
		return nil, false
	}
	return e.Object, true
}

// Objects returns the live objects of a resource in a namespace ("" = all)
// from the watch cache.
func (s *Server) Objects(group, version, resourceName, namespace string) []runtime.Object {
	res, ok := s.lookup(group, version, resourceName)
	if !ok {
		return nil
	}
	entries, _, err := s.cache.List(res.bucket, res.keyPrefix(namespace))
	if err != nil {
		return nil
	}
	out := make([]runtime.Object, len(entries))
	for i, e := range entries {
		out[i] = e.Object
	}
	return out
}

// Ensure creates obj as a resource of gvr unless it exists; the server uses
// it for what every cluster starts with (RBAC defaults, for one).
func (s *Server) Ensure(ctx context.Context, gvr schema.GroupVersionResource, namespace string, obj runtime.Object) error {
	return s.ensure(ctx, gvr.Group, gvr.Version, gvr.Resource, namespace, obj, writeOptions{fieldManager: "skiff", fieldValidation: "Ignore"})
}

// EnsureUpdated creates obj as a resource of gvr, or replaces what is
// stored with it (keeping the stored labels, annotations, owners and
// finalizers beside obj's labels); the server uses it to tighten defaults
// an older version created.
func (s *Server) EnsureUpdated(ctx context.Context, gvr schema.GroupVersionResource, namespace string, obj runtime.Object) error {
	return s.ensureUpdated(ctx, gvr.Group, gvr.Version, gvr.Resource, namespace, obj, writeOptions{fieldManager: "skiff", fieldValidation: "Ignore"})
}
