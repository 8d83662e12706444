package admission

import (
	"context"
	"errors"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Namespaces reads namespaces for NamespaceLifecycle.
type Namespaces interface {
	// Namespace returns the namespace called name: from the API server's
	// cache, or from storage when the cache does not have it (yet). It
	// returns nil and no error when the server serves no namespaces, and
	// the API error (NotFound, ...) when it cannot read it. The result is
	// shared: callers must not change it.
	Namespace(ctx context.Context, name string) (*corev1.Namespace, error)
}

// immortalNamespaces may never be deleted.
var immortalNamespaces = map[string]bool{"default": true, "kube-system": true, "kube-public": true}

// namespaceLifecycle is upstream's NamespaceLifecycle: the system's
// namespaces may not be deleted, and nothing may be created in a
// namespace that does not exist or is being deleted. The first check is
// made in the mutating phase, as upstream makes both; the second in the
// validating phase, so that an invalid object is refused as invalid
// (422) before its namespace is looked at.
type namespaceLifecycle struct {
	namespaces Namespaces
}

var (
	_ Mutator   = namespaceLifecycle{}
	_ Validator = namespaceLifecycle{}
)

func (namespaceLifecycle) Name() string { return "NamespaceLifecycle" }

func (namespaceLifecycle) Handles(op Operation) bool { return op == Create || op == Delete }

// Admit refuses to delete the namespaces the system needs.
func (namespaceLifecycle) Admit(_ context.Context, a *Attributes) error {
	if a.Operation == Delete && a.Resource.Group == "" && a.Resource.Resource == "namespaces" && a.SubResource == "" && immortalNamespaces[a.Name] {
		return apierrors.NewForbidden(a.Resource.GroupResource(), a.Name, errors.New("this namespace may not be deleted"))
	}
	return nil
}

// Validate refuses a namespaced object whose namespace does not exist or
// is being deleted.
func (p namespaceLifecycle) Validate(ctx context.Context, a *Attributes) error {
	if a.Operation != Create || a.Namespace == "" {
		return nil
	}
	ns, err := p.namespaces.Namespace(ctx, a.Namespace)
	if err != nil {
		return err
	}
	if ns == nil || (ns.Status.Phase != corev1.NamespaceTerminating && ns.DeletionTimestamp == nil) {
		return nil
	}
	m, err := meta.Accessor(a.Object)
	if err != nil {
		return apierrors.NewInternalError(err)
	}
	se := apierrors.NewForbidden(a.Resource.GroupResource(), m.GetName(),
		fmt.Errorf("unable to create new content in namespace %s because it is being terminated", a.Namespace))
	se.ErrStatus.Details.Causes = append(se.ErrStatus.Details.Causes, metav1.StatusCause{
		Type: corev1.NamespaceTerminatingCause, Message: fmt.Sprintf("namespace %s is being terminated", a.Namespace), Field: "metadata.namespace"})
	return se
}
