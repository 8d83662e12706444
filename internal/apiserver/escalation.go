package apiserver

import (
	"context"
	"errors"

	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"skiff/internal/apiserver/auth"
)

// EscalationChecker refuses writes of RBAC roles and bindings that would
// grant more than their writer holds.
type EscalationChecker interface {
	// Check returns nil when w may proceed, an *auth.EscalationError when
	// it would grant what its writer does not hold, or an
	// *auth.RoleNotFoundError for a binding to a missing role.
	Check(ctx context.Context, w auth.RBACWrite) error
}

var _ EscalationChecker = (*auth.Escalation)(nil)

// rbacWrites are the resources whose writes the EscalationChecker sees.
var rbacWrites = map[string]bool{"roles": true, "clusterroles": true, "rolebindings": true, "clusterrolebindings": true}

// checkEscalation runs the EscalationChecker on a create (old nil) or
// update of an RBAC object by a request's user; the server's own writes,
// which carry no user, are not checked. name is the request's.
func (s *Server) checkEscalation(ctx context.Context, res *resource, namespace, name string, obj, old runtime.Object) error {
	if s.cfg.Escalation == nil || res.custom != nil || res.gvk.Group != rbacv1.GroupName || !rbacWrites[res.Resource.Resource] {
		return nil
	}
	u := userFrom(ctx)
	if u == nil {
		return nil
	}
	err := s.cfg.Escalation.Check(ctx, auth.RBACWrite{User: u, Resource: res.Resource.Resource, Namespace: namespace, Name: name, Obj: obj, Old: old})
	var esc *auth.EscalationError
	var missing *auth.RoleNotFoundError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &esc):
		return apierrors.NewForbidden(schema.GroupResource{Group: rbacv1.GroupName, Resource: res.Resource.Resource}, accessor(obj).GetName(), esc)
	case errors.As(err, &missing):
		return apierrors.NewNotFound(schema.GroupResource{Group: rbacv1.GroupName, Resource: missing.Resource}, missing.Name)
	}
	return apierrors.NewInternalError(err)
}
