package apiextensions

import (
	"fmt"
	"strings"
	"sync"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/common/types/ref"
	"github.com/google/cel-go/ext"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// celCostLimit bounds the work of one rule evaluation, so that a rule over
// a large list cannot stall a request.
const celCostLimit = 1000000

// celRules compiles and evaluates x-kubernetes-validations rules. Compiled
// programs are kept by rule text; the zero value is not usable, use
// newCELRules.
type celRules struct {
	env *cel.Env

	mu       sync.Mutex
	programs map[string]compiledRule
}

type compiledRule struct {
	prog    cel.Program
	message cel.Program
	// transition rules use oldSelf and run only on updates.
	transition bool
	err        error
}

func newCELRules() (*celRules, error) {
	env, err := cel.NewEnv(
		cel.Variable("self", cel.DynType),
		cel.Variable("oldSelf", cel.DynType),
		ext.Strings(), ext.Lists(), ext.Sets(),
	)
	if err != nil {
		return nil, fmt.Errorf("cel environment: %w", err)
	}
	return &celRules{env: env, programs: map[string]compiledRule{}}, nil
}

func (c *celRules) compile(r apiextensionsv1.ValidationRule) compiledRule {
	key := r.Rule + "\x00" + r.MessageExpression
	c.mu.Lock()
	defer c.mu.Unlock()
	if p, ok := c.programs[key]; ok {
		return p
	}
	var out compiledRule
	ast, iss := c.env.Compile(r.Rule)
	if iss != nil && iss.Err() != nil {
		out.err = fmt.Errorf("compilation failed: %v", iss.Err())
	} else if ast.OutputType() != cel.BoolType && ast.OutputType() != cel.DynType {
		out.err = fmt.Errorf("must evaluate to a bool")
	} else {
		out.transition = referencesOldSelf(r.Rule)
		out.prog, out.err = c.env.Program(ast, cel.CostLimit(celCostLimit))
	}
	if out.err == nil && r.MessageExpression != "" {
		mast, iss := c.env.Compile(r.MessageExpression)
		if iss != nil && iss.Err() != nil {
			out.err = fmt.Errorf("messageExpression compilation failed: %v", iss.Err())
		} else {
			out.message, out.err = c.env.Program(mast, cel.CostLimit(celCostLimit))
		}
	}
	c.programs[key] = out
	return out
}

// referencesOldSelf is a cheap syntactic check; a rule naming oldSelf is a
// transition rule.
func referencesOldSelf(rule string) bool {
	return strings.Contains(rule, "oldSelf")
}

// validateRules evaluates the rules of one schema node on value (and old,
// when the update has an old value there). hasOld says whether old exists.
func (c *celRules) validateRules(s *apiextensionsv1.JSONSchemaProps, value, old interface{}, hasOld, transitions bool, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	for _, r := range s.XValidations {
		cr := c.compile(r)
		if cr.err != nil {
			if !transitions {
				errs = append(errs, field.Invalid(nodePath(p), r.Rule, cr.err.Error()))
			}
			continue
		}
		if cr.transition != transitions || (cr.transition && !hasOld) {
			continue
		}
		vars := map[string]interface{}{"self": value}
		if hasOld {
			vars["oldSelf"] = old
		} else {
			vars["oldSelf"] = nil
		}
		out, _, err := cr.prog.Eval(vars)
		if err != nil {
			errs = append(errs, field.Invalid(nodePath(p), typeName(s), fmt.Sprintf("rule evaluation failed: %v", err)))
			continue
		}
		if ok, isBool := out.Value().(bool); isBool && ok {
			continue
		}
		rp := nodePath(p)
		if r.FieldPath != "" {
			rp = appendPath(p, r.FieldPath)
		}
		msg := r.Message
		if cr.message != nil {
			if mv, _, err := cr.message.Eval(vars); err == nil {
				if s, ok := refString(mv); ok && s != "" {
					msg = s
				}
			}
		}
		if msg == "" {
			msg = "failed rule: " + r.Rule
		}
		if r.Reason != nil {
			switch *r.Reason {
			case apiextensionsv1.FieldValueRequired:
				errs = append(errs, field.Required(rp, msg))
				continue
			case apiextensionsv1.FieldValueForbidden:
				errs = append(errs, field.Forbidden(rp, msg))
				continue
			case apiextensionsv1.FieldValueDuplicate:
				errs = append(errs, field.Duplicate(rp, msg))
				continue
			}
		}
		errs = append(errs, field.Invalid(rp, typeName(s), msg))
	}
	return errs
}

func refString(v ref.Val) (string, bool) {
	s, ok := v.Value().(string)
	return s, ok
}

func typeName(s *apiextensionsv1.JSONSchemaProps) string {
	if s.Type == "" {
		return "object"
	}
	return s.Type
}

func nodePath(p *field.Path) *field.Path {
	if p == nil {
		return field.NewPath("<root>")
	}
	return p
}

// appendPath adds a rule's fieldPath (".spec.x" or "['a.b'].c") to p.
func appendPath(p *field.Path, fp string) *field.Path {
	for _, seg := range strings.Split(strings.TrimPrefix(fp, "."), ".") {
		if seg == "" {
			continue
		}
		p = child(p, seg)
	}
	return nodePath(p)
}

// compileAll reports the rules of a schema that do not compile, for CRD
// validation.
func (c *celRules) compileAll(s *apiextensionsv1.JSONSchemaProps, p *field.Path) field.ErrorList {
	if s == nil {
		return nil
	}
	var errs field.ErrorList
	for i, r := range s.XValidations {
		if cr := c.compile(r); cr.err != nil {
			errs = append(errs, field.Invalid(p.Child("x-kubernetes-validations").Index(i).Child("rule"), r.Rule, cr.err.Error()))
		}
	}
	for k, prop := range s.Properties {
		errs = append(errs, c.compileAll(&prop, p.Child("properties").Key(k))...)
	}
	if s.Items != nil && s.Items.Schema != nil {
		errs = append(errs, c.compileAll(s.Items.Schema, p.Child("items"))...)
	}
	if s.AdditionalProperties != nil && s.AdditionalProperties.Schema != nil {
		errs = append(errs, c.compileAll(s.AdditionalProperties.Schema, p.Child("additionalProperties"))...)
	}
	return errs
}

// walk evaluates the rules of every schema node that has a value: the
// plain rules (transitions false) or the transition rules, which see the
// old value at the same field path (transitions true).
func (c *celRules) walk(v, old interface{}, hasOld, transitions bool, s *apiextensionsv1.JSONSchemaProps, p *field.Path) field.ErrorList {
	if s == nil || v == nil {
		return nil
	}
	var errs field.ErrorList
	if len(s.XValidations) > 0 {
		errs = append(errs, c.validateRules(s, v, old, hasOld, transitions, p)...)
	}
	switch x := v.(type) {
	case map[string]interface{}:
		oldMap, _ := old.(map[string]interface{})
		for k, cur := range x {
			prev, had := oldMap[k]
			had = had && hasOld
			if prop, ok := s.Properties[k]; ok {
				errs = append(errs, c.walk(cur, prev, had, transitions, &prop, child(p, k))...)
			} else if s.AdditionalProperties != nil && s.AdditionalProperties.Schema != nil {
				kp := field.NewPath(k)
				if p != nil {
					kp = p.Key(k)
				}
				errs = append(errs, c.walk(cur, prev, had, transitions, s.AdditionalProperties.Schema, kp)...)
			}
		}
	case []interface{}:
		if s.Items != nil && s.Items.Schema != nil {
			for i, it := range x {
				errs = append(errs, c.walk(it, nil, false, transitions, s.Items.Schema, indexOf(p, i))...)
			}
		}
	}
	return errs
}

// hasRules reports whether any node of s carries x-kubernetes-validations.
func hasRules(s *apiextensionsv1.JSONSchemaProps) bool {
	if s == nil {
		return false
	}
	if len(s.XValidations) > 0 {
		return true
	}
	for _, p := range s.Properties {
		if hasRules(&p) {
			return true
		}
	}
	if s.Items != nil && hasRules(s.Items.Schema) {
		return true
	}
	return s.AdditionalProperties != nil && hasRules(s.AdditionalProperties.Schema)
}
