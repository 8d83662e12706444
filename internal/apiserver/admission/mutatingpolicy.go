package admission

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"sort"

	arv1 "k8s.io/api/admissionregistration/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/managedfields"
	"sigs.k8s.io/structured-merge-diff/v6/typed"

	"skiff/internal/apiserver/admission/celpatch"
)

var (
	mutatingPoliciesGVR = arv1.SchemeGroupVersion.WithResource("mutatingadmissionpolicies")
	mutatingBindingsGVR = arv1.SchemeGroupVersion.WithResource("mutatingadmissionpolicybindings")
)

// mutatingAdmissionPolicy is upstream's MutatingAdmissionPolicy plugin:
// the CEL mutations of MutatingAdmissionPolicies, through their bindings,
// on creates and updates.
//
// Policies run in name order, each binding of a policy in name order, each
// mutation seeing the object as the previous one left it. An
// ApplyConfiguration merges like a server-side apply of the object it
// returns (with the kind's schema, so lists merge by their keys; a kind
// without a known schema, a custom resource, merges maps and replaces the
// rest); a JSONPatch applies its operations. Not done: reinvocation
// (reinvocationPolicy IfNeeded runs once, like Never).
type mutatingAdmissionPolicy struct {
	p *policies
	// typeConverter gives the built-in kinds' schemas; nil merges without.
	typeConverter func() (managedfields.TypeConverter, error)
}

var _ Mutator = mutatingAdmissionPolicy{}

func (mutatingAdmissionPolicy) Name() string { return "MutatingAdmissionPolicy" }

func (mutatingAdmissionPolicy) Handles(op Operation) bool { return op == Create || op == Update }

func (m mutatingAdmissionPolicy) Admit(_ context.Context, a *Attributes) error {
	if exempt(a) || a.Object == nil {
		return nil
	}
	bindings := map[string][]*arv1.MutatingAdmissionPolicyBinding{}
	for _, o := range m.p.objects.List(mutatingBindingsGVR, "") {
		if b, ok := o.(*arv1.MutatingAdmissionPolicyBinding); ok {
			bindings[b.Spec.PolicyName] = append(bindings[b.Spec.PolicyName], b)
		}
	}
	if len(bindings) == 0 {
		return nil
	}
	var list []*arv1.MutatingAdmissionPolicy
	for _, o := range m.p.objects.List(mutatingPoliciesGVR, "") {
		if pol, ok := o.(*arv1.MutatingAdmissionPolicy); ok && len(bindings[pol.Name]) > 0 {
			list = append(list, pol)
		}
	}
	sort.Slice(list, func(i, j int) bool { return list[i].Name < list[j].Name })
	for _, pol := range list {
		bs := bindings[pol.Name]
		sort.Slice(bs, func(i, j int) bool { return bs[i].Name < bs[j].Name })
		for _, b := range bs {
			if err := m.apply(pol, b, a); err != nil {
				if pol.Spec.FailurePolicy != nil && *pol.Spec.FailurePolicy == arv1.Ignore {
					continue
				}
				return forbidden(a, fmt.Errorf("policy '%s' with binding '%s' denied request: %w", pol.Name, b.Name, err))
			}
		}
	}
	return nil
}

// apply runs one policy through one binding, replacing a.Object when a
// mutation changed it.
func (m mutatingAdmissionPolicy) apply(pol *arv1.MutatingAdmissionPolicy, b *arv1.MutatingAdmissionPolicyBinding, a *Attributes) error {
	spec := pol.Spec
	if spec.MatchConstraints == nil {
		return nil
	}
	if ok, err := m.p.matchResources(spec.MatchConstraints, a); err != nil || !ok {
		return err
	}
	if mr := b.Spec.MatchResources; mr != nil {
		if ok, err := m.p.matchResources(mr, a); err != nil || !ok {
			return err
		}
	}
	params, err := m.p.params(spec.ParamKind, b.Spec.ParamRef, a)
	if err != nil {
		return err
	}
	for _, param := range params {
		vars, err := celVars(a)
		if err != nil {
			return err
		}
		if a.Namespace != "" {
			if ns, found := m.p.objects.Get(namespacesGVR, "", a.Namespace); found {
				vars["namespaceObject"], _ = toCEL(ns)
			}
		}
		vars["params"] = param
		if conds := spec.MatchConditions; len(conds) > 0 {
			names, exprs := make([]string, len(conds)), make([]string, len(conds))
			for i, c := range conds {
				names[i], exprs[i] = c.Name, c.Expression
			}
			ok, err := m.p.cel.matchConditions(names, exprs, vars)
			if err != nil {
				return err
			}
			if !ok {
				continue
			}
		}
		variables := map[string]any{}
		vars["variables"] = variables
		for _, v := range spec.Variables {
			val, err := m.p.cel.eval(v.Expression, vars)
			if err != nil {
				variables[v.Name] = errValue(fmt.Errorf("variable %q: %w", v.Name, err))
				continue
			}
			variables[v.Name] = val
		}
		for _, mu := range spec.Mutations {
			out, err := m.mutate(mu, a.Object, vars)
			if err != nil {
				return err
			}
			a.Object = out
			if vars["object"], err = toCEL(out); err != nil {
				return err
			}
		}
	}
	return nil
}

// mutate evaluates one mutation and returns the object it leaves.
func (m mutatingAdmissionPolicy) mutate(mu arv1.Mutation, obj runtime.Object, vars map[string]any) (runtime.Object, error) {
	switch {
	case mu.PatchType == arv1.PatchTypeApplyConfiguration && mu.ApplyConfiguration != nil:
		v, err := m.p.cel.eval(mu.ApplyConfiguration.Expression, vars)
		if err != nil {
			return nil, fmt.Errorf("expression '%s' resulted in error: %w", mu.ApplyConfiguration.Expression, err)
		}
		patch, err := celpatch.ToJSON(v)
		if err != nil {
			return nil, err
		}
		pm, ok := patch.(map[string]any)
		if !ok {
			return nil, errors.New("apply configuration must evaluate to an Object")
		}
		return m.applyConfiguration(obj, pm)
	case mu.PatchType == arv1.PatchTypeJSONPatch && mu.JSONPatch != nil:
		v, err := m.p.cel.eval(mu.JSONPatch.Expression, vars)
		if err != nil {
			return nil, fmt.Errorf("expression '%s' resulted in error: %w", mu.JSONPatch.Expression, err)
		}
		ops, err := celpatch.ToJSON(v)
		if err != nil {
			return nil, err
		}
		if _, ok := ops.([]any); !ok {
			return nil, celpatch.ErrNotPatch
		}
		data, err := json.Marshal(ops)
		if err != nil {
			return nil, err
		}
		out, err := applyJSONPatch("", obj, data)
		if err != nil {
			var ce *callError
			if errors.As(err, &ce) {
				return nil, ce.reason
			}
			return nil, err
		}
		return out, nil
	}
	return obj, nil
}

// applyConfiguration merges patch into obj as a server-side apply would.
func (m mutatingAdmissionPolicy) applyConfiguration(obj runtime.Object, patch map[string]any) (runtime.Object, error) {
	gvk := obj.GetObjectKind().GroupVersionKind()
	if _, custom := obj.(*unstructured.Unstructured); !custom && m.typeConverter != nil {
		if tc, err := m.typeConverter(); err == nil {
			cur, err := tc.ObjectToTyped(obj, typed.AllowDuplicates)
			if err == nil {
				po := &unstructured.Unstructured{Object: patch}
				po.SetGroupVersionKind(gvk)
				pt, err := tc.ObjectToTyped(po, typed.AllowDuplicates)
				if err != nil {
					return nil, fmt.Errorf("apply configuration does not fit %s: %w", gvk.Kind, err)
				}
				merged, err := cur.Merge(pt)
				if err != nil {
					return nil, fmt.Errorf("merge apply configuration: %w", err)
				}
				out, err := tc.TypedToObject(merged)
				if err != nil {
					return nil, err
				}
				return fromUnstructured(obj, out.(*unstructured.Unstructured).Object)
			}
		}
	}
	cur, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
	if err != nil {
		return nil, err
	}
	mergeMaps(cur, patch)
	return fromUnstructured(obj, cur)
}

// mergeMaps merges src into dst: maps merge key by key, everything else
// (lists included) is replaced.
func mergeMaps(dst, src map[string]any) {
	for k, v := range src {
		sm, ok := v.(map[string]any)
		dm, ok2 := dst[k].(map[string]any)
		if ok && ok2 {
			mergeMaps(dm, sm)
			continue
		}
		dst[k] = v
	}
}

// fromUnstructured decodes content into a new object of like's type.
func fromUnstructured(like runtime.Object, content map[string]any) (runtime.Object, error) {
	gvk := like.GetObjectKind().GroupVersionKind()
	if _, ok := like.(*unstructured.Unstructured); ok {
		u := &unstructured.Unstructured{Object: content}
		u.SetGroupVersionKind(gvk)
		return u, nil
	}
	// Through JSON: CEL's numbers are int64 and float64, which the
	// unstructured converter does not put into int32 fields.
	data, err := json.Marshal(content)
	if err != nil {
		return nil, err
	}
	out := reflect.New(reflect.TypeOf(like).Elem()).Interface().(runtime.Object)
	if err := json.Unmarshal(data, out); err != nil {
		return nil, fmt.Errorf("decode mutated %s: %w", gvk.Kind, err)
	}
	out.GetObjectKind().SetGroupVersionKind(gvk)
	return out, nil
}
