package auth

import (
	"context"
	"fmt"
	"strings"

	rbacv1 "k8s.io/api/rbac/v1"
	utilerrors "k8s.io/apimachinery/pkg/util/errors"
)

// RBACSource lists the RBAC objects the authorizer decides on. The API
// server's watch cache implements it in-process.
type RBACSource interface {
	ClusterRole(name string) (*rbacv1.ClusterRole, bool)
	Role(namespace, name string) (*rbacv1.Role, bool)
	ClusterRoleBindings() []*rbacv1.ClusterRoleBinding
	RoleBindings(namespace string) []*rbacv1.RoleBinding
}

// RBAC authorizes requests by Roles, ClusterRoles and their bindings, as
// upstream's RBAC authorizer does: a request is allowed when any rule bound
// to the user (directly, through a group, or as a service account) allows it.
type RBAC struct {
	Source RBACSource
}

var _ Authorizer = (*RBAC)(nil)

// Authorize implements the API server's Authorizer.
func (a *RBAC) Authorize(_ context.Context, attrs Attributes) (bool, string, error) {
	if attrs.User == nil {
		return false, "", nil
	}
	allowed := false
	a.visitRules(attrs.User, attrs.Namespace, func(rules []rbacv1.PolicyRule, _ error) bool {
		allowed = rulesAllow(rules, attrs)
		return !allowed
	})
	return allowed, "", nil
}

// RulesFor returns the rules bound to u cluster-wide and, when namespace
// is set, in namespace, as upstream's rule resolver does. The error names
// the roles that bindings of u refer to but that do not exist; the rules
// found are returned all the same.
func (a *RBAC) RulesFor(u *User, namespace string) ([]rbacv1.PolicyRule, error) {
	var (
		rules []rbacv1.PolicyRule
		errs  []error
	)
	a.visitRules(u, namespace, func(r []rbacv1.PolicyRule, err error) bool {
		rules = append(rules, r...)
		if err != nil {
			errs = append(errs, err)
		}
		return true
	})
	return rules, utilerrors.NewAggregate(errs)
}

// RoleRules returns the rules of the role ref refers to, for a binding in
// namespace (empty for a ClusterRoleBinding), or a *RoleNotFoundError.
func (a *RBAC) RoleRules(ref rbacv1.RoleRef, namespace string) ([]rbacv1.PolicyRule, error) {
	switch ref.Kind {
	case "ClusterRole":
		if cr, ok := a.Source.ClusterRole(ref.Name); ok {
			return cr.Rules, nil
		}
		return nil, &RoleNotFoundError{Resource: "clusterroles", Name: ref.Name}
	case "Role":
		if namespace != "" {
			if r, ok := a.Source.Role(namespace, ref.Name); ok {
				return r.Rules, nil
			}
		}
		return nil, &RoleNotFoundError{Resource: "roles", Name: ref.Name}
	}
	return nil, fmt.Errorf("unsupported role reference kind: %q", ref.Kind)
}

// visitRules calls visit with the rules of each binding of u (cluster
// role bindings, then the role bindings of namespace), or with the error
// resolving its role, until visit returns false.
func (a *RBAC) visitRules(u *User, namespace string, visit func([]rbacv1.PolicyRule, error) bool) {
	for _, b := range a.Source.ClusterRoleBindings() {
		if !subjectsMatch(b.Subjects, u, "") {
			continue
		}
		if !visit(a.RoleRules(b.RoleRef, "")) {
			return
		}
	}
	if namespace == "" {
		return
	}
	for _, b := range a.Source.RoleBindings(namespace) {
		if !subjectsMatch(b.Subjects, u, b.Namespace) {
			continue
		}
		if !visit(a.RoleRules(b.RoleRef, b.Namespace)) {
			return
		}
	}
}

// subjectsMatch reports whether any subject names the user; bindingNS is
// the namespace service account subjects default to.
func subjectsMatch(subjects []rbacv1.Subject, u *User, bindingNS string) bool {
	for _, s := range subjects {
		switch s.Kind {
		case rbacv1.UserKind:
			if s.Name == u.Name {
				return true
			}
		case rbacv1.GroupKind:
			for _, g := range u.Groups {
				if g == s.Name {
					return true
				}
			}
		case rbacv1.ServiceAccountKind:
			ns := s.Namespace
			if ns == "" {
				ns = bindingNS
			}
			if ns != "" && u.Name == "system:serviceaccount:"+ns+":"+s.Name {
				return true
			}
		}
	}
	return false
}

func rulesAllow(rules []rbacv1.PolicyRule, a Attributes) bool {
	for i := range rules {
		if ruleAllows(&rules[i], a) {
			return true
		}
	}
	return false
}

func has(list []string, v string) bool {
	for _, x := range list {
		if x == v || x == rbacv1.VerbAll {
			return true
		}
	}
	return false
}

func ruleAllows(r *rbacv1.PolicyRule, a Attributes) bool {
	if !has(r.Verbs, a.Verb) {
		return false
	}
	if !a.ResourceRequest {
		for _, u := range r.NonResourceURLs {
			if u == "*" || u == a.Path || (strings.HasSuffix(u, "*") && strings.HasPrefix(a.Path, strings.TrimSuffix(u, "*"))) {
				return true
			}
		}
		return false
	}
	if !has(r.APIGroups, a.APIGroup) {
		return false
	}
	resource := a.Resource
	if a.Subresource != "" {
		resource += "/" + a.Subresource
	}
	matched := false
	for _, res := range r.Resources {
		if res == rbacv1.ResourceAll || res == resource || (a.Subresource != "" && res == "*/"+a.Subresource) {
			matched = true
			break
		}
	}
	if !matched {
		return false
	}
	if len(r.ResourceNames) == 0 {
		return true
	}
	if a.Name == "" {
		return false
	}
	for _, n := range r.ResourceNames {
		if n == a.Name {
			return true
		}
	}
	return false
}

// Chain asks each authorizer in turn; the first that allows wins.
type Chain []Authorizer

var _ Authorizer = Chain(nil)

// Authorize implements the API server's Authorizer.
func (c Chain) Authorize(ctx context.Context, a Attributes) (bool, string, error) {
	var reasons []string
	for _, z := range c {
		ok, reason, err := z.Authorize(ctx, a)
		if err != nil {
			return false, "", fmt.Errorf("authorize: %w", err)
		}
		if ok {
			return true, "", nil
		}
		if reason != "" {
			reasons = append(reasons, reason)
		}
	}
	return false, strings.Join(reasons, "; "), nil
}
