package auth

import (
	"context"
	"fmt"
	"slices"
	"strings"

	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime"
)

// RoleNotFoundError says that a binding refers to a role that does not
// exist; the API server answers it with 404, as upstream does.
type RoleNotFoundError struct {
	// Resource is "roles" or "clusterroles".
	Resource string
	Name     string
}

func (e *RoleNotFoundError) Error() string {
	return fmt.Sprintf("%s.%s %q not found", e.Resource, rbacv1.GroupName, e.Name)
}

// EscalationError refuses a write that would grant permissions its writer
// does not hold; the API server answers it with 403 on the object.
type EscalationError struct{ Message string }

func (e *EscalationError) Error() string { return e.Message }

// RBACWrite is a create or update of a Role, ClusterRole, RoleBinding or
// ClusterRoleBinding, after mutating admission.
type RBACWrite struct {
	User *User
	// Resource is roles, clusterroles, rolebindings or clusterrolebindings.
	Resource string
	// Namespace and Name are the request's: Name is empty for a create by
	// POST, as upstream's request info has it.
	Namespace, Name string
	// Obj is the object to store, Old what is stored (nil on create).
	Obj, Old runtime.Object
}

// Escalation refuses RBAC writes that would grant more than their writer
// holds, as upstream's policy-based RBAC storage does:
//
//   - a Role or ClusterRole may hold only rules its writer holds in that
//     namespace (cluster-wide for a ClusterRole), unless the writer may
//     escalate roles (clusterroles); an aggregationRule, which can gather
//     anything, needs every permission;
//   - a binding may refer only to a role all of whose rules its writer
//     holds in the binding's namespace, unless the writer may bind that
//     role.
//
// Members of system:masters (the server's own loopback clients among them)
// are never refused, and an update that only changes what the garbage
// collector changes (owner references, finalizers) is not checked.
type Escalation struct {
	// RBAC resolves the rules the writer holds. Only RBAC counts, as
	// upstream: what another authorizer allows cannot be granted.
	RBAC *RBAC
	// Authorizer is asked whether the writer has the escalate or bind verb.
	Authorizer Authorizer
}

// fullAuthority is every permission: what an aggregationRule needs.
var fullAuthority = []rbacv1.PolicyRule{
	{Verbs: []string{"*"}, APIGroups: []string{"*"}, Resources: []string{"*"}},
	{Verbs: []string{"*"}, NonResourceURLs: []string{"*"}},
}

// Check returns nil when w may proceed, an *EscalationError when it would
// grant what its writer does not hold, or a *RoleNotFoundError when a
// binding's role does not exist and its writer may not bind it anyway.
func (e *Escalation) Check(ctx context.Context, w RBACWrite) error {
	if w.User == nil || slices.Contains(w.User.Groups, GroupMasters) {
		return nil
	}
	if w.Old != nil && onlyGCFieldsChange(w.Obj, w.Old) {
		return nil
	}
	switch obj := w.Obj.(type) {
	case *rbacv1.Role:
		if e.allowed(ctx, w.User, "escalate", w.Resource, w.Namespace, w.Name) {
			return nil
		}
		return e.confirmNoEscalation(w.User, w.Namespace, obj.Rules)
	case *rbacv1.ClusterRole:
		if e.allowed(ctx, w.User, "escalate", w.Resource, "", w.Name) {
			return nil
		}
		if err := e.confirmNoEscalation(w.User, "", obj.Rules); err != nil {
			return err
		}
		old, _ := w.Old.(*rbacv1.ClusterRole)
		if hasAggregationRule(obj) || hasAggregationRule(old) {
			if err := e.confirmNoEscalation(w.User, "", fullAuthority); err != nil {
				return &EscalationError{Message: "must have cluster-admin privileges to use the aggregationRule"}
			}
		}
		return nil
	case *rbacv1.RoleBinding:
		return e.checkBinding(ctx, w.User, obj.RoleRef, w.Namespace)
	case *rbacv1.ClusterRoleBinding:
		return e.checkBinding(ctx, w.User, obj.RoleRef, "")
	}
	return nil
}

func (e *Escalation) checkBinding(ctx context.Context, u *User, ref rbacv1.RoleRef, namespace string) error {
	resource := map[string]string{"ClusterRole": "clusterroles", "Role": "roles"}[ref.Kind]
	// bind is asked in the binding's namespace, so that one may be allowed
	// to bind a ClusterRole in some namespaces only.
	if resource != "" && e.allowed(ctx, u, "bind", resource, namespace, ref.Name) {
		return nil
	}
	rules, err := e.RBAC.RoleRules(ref, namespace)
	if err != nil {
		return err
	}
	return e.confirmNoEscalation(u, namespace, rules)
}

// allowed asks the authorizer whether u may verb the RBAC resource.
func (e *Escalation) allowed(ctx context.Context, u *User, verb, resource, namespace, name string) bool {
	if e.Authorizer == nil {
		return false
	}
	ok, _, err := e.Authorizer.Authorize(ctx, Attributes{User: u, Verb: verb, APIGroup: rbacv1.GroupName, APIVersion: "*",
		Resource: resource, Namespace: namespace, Name: name, ResourceRequest: true})
	return err == nil && ok
}

// confirmNoEscalation is upstream's ConfirmNoEscalation: the rules u holds
// in namespace must cover rules; the message lists what is missing.
func (e *Escalation) confirmNoEscalation(u *User, namespace string, rules []rbacv1.PolicyRule) error {
	held, resolveErr := e.RBAC.RulesFor(u, namespace)
	covered, missing := Covers(held, rules)
	if covered {
		return nil
	}
	var lines []string
	for _, r := range compactRules(missing) {
		lines = append(lines, compactString(r))
	}
	slices.Sort(lines)
	lines = slices.Compact(lines)
	groups := u.Groups
	if groups == nil {
		groups = []string{}
	}
	msg := fmt.Sprintf("user %q (groups=%q) is attempting to grant RBAC permissions not currently held:\n%s", u.Name, groups, strings.Join(lines, "\n"))
	if resolveErr != nil {
		msg += fmt.Sprintf("; resolution errors: %v", []error{resolveErr})
	}
	return &EscalationError{Message: msg}
}

func hasAggregationRule(r *rbacv1.ClusterRole) bool {
	return r != nil && r.AggregationRule != nil && len(r.AggregationRule.ClusterRoleSelectors) > 0
}

// onlyGCFieldsChange reports whether obj differs from old only in what the
// garbage collector writes (owner references, finalizers) and in
// managedFields.
func onlyGCFieldsChange(obj, old runtime.Object) bool {
	cp := obj.DeepCopyObject()
	m, err := meta.Accessor(cp)
	if err != nil {
		return false
	}
	om, err := meta.Accessor(old)
	if err != nil {
		return false
	}
	m.SetOwnerReferences(om.GetOwnerReferences())
	m.SetFinalizers(om.GetFinalizers())
	m.SetSelfLink(om.GetSelfLink())
	m.SetManagedFields(om.GetManagedFields())
	return equality.Semantic.DeepEqual(cp, old)
}

// Covers reports whether the owner rules allow everything rules allow and,
// when not, what they miss, one verb, API group, resource (or URL) and
// resource name per rule, as upstream's RBAC escalation check decides.
func Covers(owner, rules []rbacv1.PolicyRule) (bool, []rbacv1.PolicyRule) {
	var missing []rbacv1.PolicyRule
	for _, r := range rules {
		for _, atom := range breakDown(r) {
			if !slices.ContainsFunc(owner, func(o rbacv1.PolicyRule) bool { return ownerCovers(&o, &atom) }) {
				missing = append(missing, atom)
			}
		}
	}
	return len(missing) == 0, missing
}

// breakDown splits r into rules of one verb, group, resource and name
// each (one verb and URL each for non-resource rules).
func breakDown(r rbacv1.PolicyRule) []rbacv1.PolicyRule {
	var out []rbacv1.PolicyRule
	for _, g := range r.APIGroups {
		for _, res := range r.Resources {
			for _, v := range r.Verbs {
				atom := rbacv1.PolicyRule{APIGroups: []string{g}, Resources: []string{res}, Verbs: []string{v}}
				if len(r.ResourceNames) == 0 {
					out = append(out, atom)
					continue
				}
				for _, n := range r.ResourceNames {
					named := atom
					named.ResourceNames = []string{n}
					out = append(out, named)
				}
			}
		}
	}
	for _, u := range r.NonResourceURLs {
		for _, v := range r.Verbs {
			out = append(out, rbacv1.PolicyRule{NonResourceURLs: []string{u}, Verbs: []string{v}})
		}
	}
	return out
}

// ownerCovers reports whether owner allows all of atom, a rule of at most
// one verb, group, resource, name or URL. A "*" in atom is covered only by
// a "*" in owner.
func ownerCovers(owner, atom *rbacv1.PolicyRule) bool {
	if !containsAll(owner.Verbs, atom.Verbs, rbacv1.VerbAll) || !containsAll(owner.APIGroups, atom.APIGroups, rbacv1.APIGroupAll) {
		return false
	}
	for _, res := range atom.Resources {
		if slices.Contains(owner.Resources, rbacv1.ResourceAll) || slices.Contains(owner.Resources, res) {
			continue
		}
		// pods/log is covered by */log.
		_, sub, ok := strings.Cut(res, "/")
		if !ok || !slices.Contains(owner.Resources, "*/"+sub) {
			return false
		}
	}
	for _, u := range atom.NonResourceURLs {
		if !slices.ContainsFunc(owner.NonResourceURLs, func(o string) bool {
			return o == u || strings.HasSuffix(o, "*") && strings.HasPrefix(u, strings.TrimRight(o, "*"))
		}) {
			return false
		}
	}
	if len(owner.ResourceNames) == 0 {
		return true
	}
	return len(atom.ResourceNames) > 0 && containsAll(owner.ResourceNames, atom.ResourceNames, "")
}

// containsAll reports whether set holds every element of want, or the
// wildcard (none when empty).
func containsAll(set, want []string, wildcard string) bool {
	if wildcard != "" && slices.Contains(set, wildcard) {
		return true
	}
	for _, w := range want {
		if !slices.Contains(set, w) {
			return false
		}
	}
	return true
}

// compactRules merges rules of one group, one resource and at most one
// name that differ only in their verbs, as upstream does before listing
// missing permissions.
func compactRules(rules []rbacv1.PolicyRule) []rbacv1.PolicyRule {
	type key struct{ group, resource, name string }
	var (
		out    []rbacv1.PolicyRule
		merged = map[key]int{}
	)
	for _, r := range rules {
		simple := len(r.APIGroups) == 1 && len(r.Resources) == 1 && len(r.ResourceNames) <= 1 && len(r.NonResourceURLs) == 0
		if !simple {
			out = append(out, r)
			continue
		}
		k := key{r.APIGroups[0], r.Resources[0], "\x00"}
		if len(r.ResourceNames) == 1 {
			k.name = r.ResourceNames[0]
		}
		if i, ok := merged[k]; ok {
			out[i].Verbs = append(out[i].Verbs, r.Verbs...)
			continue
		}
		merged[k] = len(out)
		out = append(out, *r.DeepCopy())
	}
	return out
}

// compactString prints a rule the way upstream's escalation message does:
// only the fields that are set, lists quoted.
func compactString(r rbacv1.PolicyRule) string {
	var parts []string
	add := func(name string, v []string) {
		if len(v) > 0 {
			parts = append(parts, fmt.Sprintf("%s:%q", name, v))
		}
	}
	add("APIGroups", r.APIGroups)
	add("Resources", r.Resources)
	add("NonResourceURLs", r.NonResourceURLs)
	add("ResourceNames", r.ResourceNames)
	add("Verbs", r.Verbs)
	return "{" + strings.Join(parts, ", ") + "}"
}
