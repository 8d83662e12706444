package admission

import (
	"fmt"
	"strings"
	"sync"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"
	"github.com/google/cel-go/ext"
	authenticationv1 "k8s.io/api/authentication/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"skiff/internal/apiserver/admission/celpatch"
)

// celCostLimit bounds the work of one expression, as upstream's runtime
// budget does.
const celCostLimit = 10000000

// maxPrograms bounds the compiled-program cache; it is emptied when full.
const maxPrograms = 4096

// celPrograms compiles admission expressions once and keeps them by text.
type celPrograms struct {
	env *cel.Env

	mu       sync.Mutex
	programs map[string]compiled
}

type compiled struct {
	prog cel.Program
	err  error
}

func newCELPrograms() (*celPrograms, error) {
	opts := []cel.EnvOption{cel.OptionalTypes(), ext.Strings(), ext.Lists(), ext.Sets(), ext.Math(), ext.Encoders()}
	for _, v := range []string{"object", "oldObject", "request", "params", "namespaceObject", "authorizer", "variables"} {
		opts = append(opts, cel.Variable(v, cel.DynType))
	}
	// MutatingAdmissionPolicies build Object{...} and JSONPatch{...}.
	patch, err := celpatch.EnvOptions()
	if err != nil {
		return nil, fmt.Errorf("admission: cel environment: %w", err)
	}
	env, err := cel.NewEnv(append(opts, patch...)...)
	if err != nil {
		return nil, fmt.Errorf("admission: cel environment: %w", err)
	}
	return &celPrograms{env: env, programs: map[string]compiled{}}, nil
}

func (c *celPrograms) program(expr string) (cel.Program, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if p, ok := c.programs[expr]; ok {
		return p.prog, p.err
	}
	var out compiled
	ast, iss := c.env.Compile(expr)
	if iss != nil && iss.Err() != nil {
		out.err = fmt.Errorf("compilation failed: %v", iss.Err())
	} else {
		out.prog, out.err = c.env.Program(ast, cel.CostLimit(celCostLimit))
	}
	if len(c.programs) >= maxPrograms {
		c.programs = map[string]compiled{}
	}
	c.programs[expr] = out
	return out.prog, out.err
}

// eval evaluates expr against vars.
func (c *celPrograms) eval(expr string, vars map[string]any) (ref.Val, error) {
	prog, err := c.program(expr)
	if err != nil {
		return nil, err
	}
	v, _, err := prog.Eval(vars)
	if err != nil {
		return nil, err
	}
	return v, nil
}

// evalBool evaluates a condition; anything but a bool is an error.
func (c *celPrograms) evalBool(expr string, vars map[string]any) (bool, error) {
	v, err := c.eval(expr, vars)
	if err != nil {
		return false, err
	}
	b, ok := v.(types.Bool)
	if !ok {
		return false, fmt.Errorf("expression must evaluate to bool, got %v", v.Type())
	}
	return bool(b), nil
}

// evalString evaluates a message expression.
func (c *celPrograms) evalString(expr string, vars map[string]any) (string, error) {
	v, err := c.eval(expr, vars)
	if err != nil {
		return "", err
	}
	s, ok := v.(types.String)
	if !ok {
		return "", fmt.Errorf("must evaluate to string, got %v", v.Type())
	}
	return string(s), nil
}

// celVars builds the activation of an expression: object, oldObject,
// request (and, for policies, params and namespaceObject, added by the
// caller). A missing object is null.
func celVars(a *Attributes) (map[string]any, error) {
	obj, err := toCEL(a.Object)
	if err != nil {
		return nil, err
	}
	old, err := toCEL(a.OldObject)
	if err != nil {
		return nil, err
	}
	req, err := requestValue(a)
	if err != nil {
		return nil, err
	}
	return map[string]any{
		"object": obj, "oldObject": old, "request": req,
		"params": nil, "namespaceObject": nil, "authorizer": nil, "variables": map[string]any{},
	}, nil
}

// toCEL turns an object into the JSON-shaped maps CEL reads.
func toCEL(obj runtime.Object) (any, error) {
	if obj == nil {
		return nil, nil
	}
	m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
	if err != nil {
		return nil, fmt.Errorf("convert %T for CEL: %w", obj, err)
	}
	return m, nil
}

// requestValue is the `request` variable: the AdmissionRequest fields.
func requestValue(a *Attributes) (map[string]any, error) {
	gvk := map[string]any{"group": a.Kind.Group, "version": a.Kind.Version, "kind": a.Kind.Kind}
	gvr := map[string]any{"group": a.Resource.Group, "version": a.Resource.Version, "resource": a.Resource.Resource}
	user, err := runtime.DefaultUnstructuredConverter.ToUnstructured(&authenticationv1.UserInfo{
		Username: a.User.Username, UID: a.User.UID, Groups: a.User.Groups, Extra: a.User.Extra})
	if err != nil {
		return nil, err
	}
	opts, err := toCEL(a.Options)
	if err != nil {
		return nil, err
	}
	return map[string]any{
		"kind": gvk, "resource": gvr, "subResource": a.SubResource,
		"requestKind": gvk, "requestResource": gvr, "requestSubResource": a.SubResource,
		"name": a.Name, "namespace": a.Namespace, "operation": string(a.Operation),
		"userInfo": user, "dryRun": a.DryRun, "options": opts,
	}, nil
}

// matchConditions evaluates conditions: all true matches, any false does
// not (even if others fail); otherwise the first error is returned.
func (c *celPrograms) matchConditions(names, exprs []string, vars map[string]any) (bool, error) {
	var firstErr error
	for i, expr := range exprs {
		ok, err := c.evalBool(expr, vars)
		if err != nil {
			if firstErr == nil {
				firstErr = fmt.Errorf("failed to evaluate match condition %q: %w", names[i], err)
			}
			continue
		}
		if !ok {
			return false, nil
		}
	}
	if firstErr != nil {
		return false, firstErr
	}
	return true, nil
}

// trimmed reports a message that says something.
func trimmed(s string) string { return strings.TrimSpace(s) }

// errValue is a CEL value that fails whatever uses it.
func errValue(err error) ref.Val { return types.WrapErr(err) }
