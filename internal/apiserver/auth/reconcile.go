package auth

import (
	"slices"

	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// The bootstrap policy is reconciled at every start, as upstream's API
// server does, so that an upgraded cluster gets the roles and bindings it
// now ships with: what a default object lacks is added, what it holds
// beyond the default is kept, and an object annotated
// rbac.authorization.kubernetes.io/autoupdate=false is its
// administrator's and is left alone.

// AutoUpdateAnnotation marks a default RBAC object as reconciled ("true",
// or absent) or left to its administrator ("false").
const AutoUpdateAnnotation = rbacv1.AutoUpdateAnnotationKey

// Protected reports whether the administrator took obj over from the
// bootstrap policy.
func Protected(obj metav1.Object) bool {
	return obj.GetAnnotations()[AutoUpdateAnnotation] == "false"
}

// mergeMeta adds to cur the labels and annotations of want that it lacks;
// those it has keep their values.
func mergeMeta(cur *metav1.ObjectMeta, want metav1.ObjectMeta) bool {
	changed := false
	add := func(dst map[string]string, src map[string]string) map[string]string {
		for k, v := range src {
			if _, ok := dst[k]; ok {
				continue
			}
			if dst == nil {
				dst = map[string]string{}
			}
			dst[k] = v
			changed = true
		}
		return dst
	}
	cur.Labels = add(cur.Labels, want.Labels)
	cur.Annotations = add(cur.Annotations, want.Annotations)
	return changed
}

// reconcileRoleParts adds want's labels, annotations and uncovered rules
// to a role's meta and rules, and reports whether that changed them.
func reconcileRoleParts(meta *metav1.ObjectMeta, rules *[]rbacv1.PolicyRule, wantMeta metav1.ObjectMeta, wantRules []rbacv1.PolicyRule) bool {
	changed := mergeMeta(meta, wantMeta)
	var more bool
	*rules, more = reconcileRules(*rules, wantRules)
	return changed || more
}

// reconcileRules returns rules with the rules of want they do not cover
// appended.
func reconcileRules(rules, want []rbacv1.PolicyRule) ([]rbacv1.PolicyRule, bool) {
	if ok, missing := Covers(rules, want); !ok {
		return append(rules, missing...), true
	}
	return rules, false
}

// ReconcileClusterRole returns existing with what expected holds added, and
// whether that changed it. Rules expected that existing does not cover are
// appended; the selectors of expected's aggregation rule that existing
// lacks are added (so hand-written admin, edit and view of older clusters
// become aggregated), and an aggregation rule expected no longer has is
// dropped. A protected role is returned unchanged.
func ReconcileClusterRole(existing, expected *rbacv1.ClusterRole) (*rbacv1.ClusterRole, bool) {
	if Protected(existing) {
		return existing, false
	}
	out := existing.DeepCopy()
	changed := reconcileRoleParts(&out.ObjectMeta, &out.Rules, expected.ObjectMeta, expected.Rules)
	switch {
	case expected.AggregationRule == nil && out.AggregationRule != nil:
		out.AggregationRule = nil
		changed = true
	case expected.AggregationRule != nil:
		if out.AggregationRule == nil {
			out.AggregationRule = &rbacv1.AggregationRule{}
		}
		for _, sel := range expected.AggregationRule.ClusterRoleSelectors {
			same := func(cur metav1.LabelSelector) bool { return equality.Semantic.DeepEqual(cur, sel) }
			if !slices.ContainsFunc(out.AggregationRule.ClusterRoleSelectors, same) {
				out.AggregationRule.ClusterRoleSelectors = append(out.AggregationRule.ClusterRoleSelectors, *sel.DeepCopy())
				changed = true
			}
		}
	}
	return out, changed
}

// ReconcileRole is ReconcileClusterRole for a namespaced Role.
func ReconcileRole(existing, expected *rbacv1.Role) (*rbacv1.Role, bool) {
	if Protected(existing) {
		return existing, false
	}
	out := existing.DeepCopy()
	changed := reconcileRoleParts(&out.ObjectMeta, &out.Rules, expected.ObjectMeta, expected.Rules)
	return out, changed
}

// reconcileSubjects returns subjects with those of want it lacks appended.
// A default that binds no one (system:node, since nodes act through the
// Node authorizer) loses the subjects an older version gave it.
func reconcileSubjects(subjects, want []rbacv1.Subject) ([]rbacv1.Subject, bool) {
	if len(want) == 0 {
		return nil, len(subjects) > 0
	}
	changed := false
	for _, w := range want {
		has := false
		for _, s := range subjects {
			if s.Kind == w.Kind && s.Name == w.Name && s.Namespace == w.Namespace {
				has = true
				break
			}
		}
		if !has {
			subjects = append(subjects, w)
			changed = true
		}
	}
	return subjects, changed
}

// BindingReconcile says what to do with a default binding.
type BindingReconcile int

// What ReconcileClusterRoleBinding and ReconcileRoleBinding decide.
const (
	// BindingUnchanged: the binding holds what it should.
	BindingUnchanged BindingReconcile = iota
	// BindingUpdate: write the returned binding in place of the stored one.
	BindingUpdate
	// BindingRecreate: the stored binding refers to another role, which
	// cannot change: delete it and create the returned one.
	BindingRecreate
)

// ReconcileClusterRoleBinding returns what to store for a default binding:
// expected itself when existing refers to another role (BindingRecreate),
// else existing with the subjects and metadata of expected it lacks. A
// protected binding is left unchanged.
func ReconcileClusterRoleBinding(existing, expected *rbacv1.ClusterRoleBinding) (*rbacv1.ClusterRoleBinding, BindingReconcile) {
	if Protected(existing) {
		return existing, BindingUnchanged
	}
	if existing.RoleRef != expected.RoleRef {
		return expected.DeepCopy(), BindingRecreate
	}
	out := existing.DeepCopy()
	changed := mergeMeta(&out.ObjectMeta, expected.ObjectMeta)
	var more bool
	out.Subjects, more = reconcileSubjects(out.Subjects, expected.Subjects)
	if changed || more {
		return out, BindingUpdate
	}
	return out, BindingUnchanged
}

// ReconcileRoleBinding is ReconcileClusterRoleBinding for a RoleBinding.
func ReconcileRoleBinding(existing, expected *rbacv1.RoleBinding) (*rbacv1.RoleBinding, BindingReconcile) {
	if Protected(existing) {
		return existing, BindingUnchanged
	}
	if existing.RoleRef != expected.RoleRef {
		return expected.DeepCopy(), BindingRecreate
	}
	out := existing.DeepCopy()
	changed := mergeMeta(&out.ObjectMeta, expected.ObjectMeta)
	var more bool
	out.Subjects, more = reconcileSubjects(out.Subjects, expected.Subjects)
	if changed || more {
		return out, BindingUpdate
	}
	return out, BindingUnchanged
}

// AggregatedRoleSources maps the user-facing roles that older clusters
// hold as plain rule lists to the system:aggregate-to-* roles that hold
// their rules once they are aggregated. Before reconciling, a cluster
// whose admin, edit or view has no aggregation rule, and that has no
// aggregate-to role yet, gets one with the old role's rules, so that
// what the administrator added to them survives the aggregation.
func AggregatedRoleSources() map[string]string {
	return map[string]string{
		"admin": "system:aggregate-to-admin",
		"edit":  "system:aggregate-to-edit",
		"view":  "system:aggregate-to-view",
	}
}
