package oidc

import (
	"errors"
	"fmt"
	"strings"

	"github.com/google/cel-go/cel"
	celast "github.com/google/cel-go/common/ast"
	"github.com/google/cel-go/common/operators"
	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"
	"github.com/google/cel-go/ext"
)

// The variables expressions see: claims (the token's payload) in claim
// rules and mappings, user (username, uid, groups, extra) in user
// validation rules.
const (
	varClaims = "claims"
	varUser   = "user"
)

// celCostLimit bounds the work of one evaluation, as upstream's per-call
// budget does.
const celCostLimit = 1_000_000

// celEnv holds the two environments: one declares claims, the other user,
// so that an expression naming the wrong one fails to compile.
type celEnv struct {
	claims, user *cel.Env
}

func newCELEnv() (*celEnv, error) {
	base := []cel.EnvOption{cel.OptionalTypes(), ext.Strings(), ext.Lists(), ext.Sets(), ext.Math(), ext.Encoders()}
	claims, err := cel.NewEnv(append(base, cel.Variable(varClaims, cel.MapType(cel.StringType, cel.DynType)))...)
	if err != nil {
		return nil, fmt.Errorf("authentication config: cel environment: %w", err)
	}
	user, err := cel.NewEnv(append(base, cel.Variable(varUser, cel.MapType(cel.StringType, cel.DynType)))...)
	if err != nil {
		return nil, fmt.Errorf("authentication config: cel environment: %w", err)
	}
	return &celEnv{claims: claims, user: user}, nil
}

// compiledExpr is a checked expression and its program.
type compiledExpr struct {
	ast  *cel.Ast
	prog cel.Program
}

// compile checks expr against the environment of variable; wantBool
// requires a boolean result (validation rules).
func (e *celEnv) compile(expr, variable string, wantBool bool) (*compiledExpr, error) {
	env := e.claims
	if variable == varUser {
		env = e.user
	}
	ast, iss := env.Compile(expr)
	if iss.Err() != nil {
		return nil, fmt.Errorf("compilation failed: %v", iss.Err())
	}
	if wantBool && ast.OutputType() != cel.BoolType && ast.OutputType() != cel.DynType {
		return nil, fmt.Errorf("must evaluate to bool, not %s", ast.OutputType())
	}
	prog, err := env.Program(ast, cel.CostLimit(celCostLimit))
	if err != nil {
		return nil, fmt.Errorf("program construction failed: %v", err)
	}
	return &compiledExpr{ast: ast, prog: prog}, nil
}

// selects reports whether the expression reads claims.<name> (or
// claims.?<name>), as upstream's email_verified check looks for.
func (c *compiledExpr) selects(name string) bool {
	found := false
	celast.PreOrderVisit(c.ast.NativeRep().Expr(), celast.NewExprVisitor(func(e celast.Expr) {
		switch e.Kind() {
		case celast.SelectKind:
			s := e.AsSelect()
			if s.FieldName() == name && isIdent(s.Operand(), varClaims) {
				found = true
			}
		case celast.CallKind:
			call := e.AsCall()
			if call.FunctionName() == operators.OptSelect && len(call.Args()) == 2 && isIdent(call.Args()[0], varClaims) {
				if lit := call.Args()[1]; lit.Kind() == celast.LiteralKind && lit.AsLiteral() == types.String(name) {
					found = true
				}
			}
		}
	}))
	return found
}

func isIdent(e celast.Expr, name string) bool {
	return e.Kind() == celast.IdentKind && e.AsIdent() == name
}

// eval runs prog with one variable bound.
func eval(prog cel.Program, variable string, value any) (ref.Val, error) {
	out, _, err := prog.Eval(map[string]any{variable: value})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// stringList converts a mapping's result as upstream does: a string or a
// list of strings; "" and [] mean absent, empty strings in a list are
// dropped, null is absent.
func stringList(v ref.Val) ([]string, error) {
	switch v.Type() {
	case types.StringType:
		if s := string(v.(types.String)); s != "" {
			return []string{s}, nil
		}
		return nil, nil
	case types.NullType:
		return nil, nil
	case types.ListType:
		native, err := v.ConvertToNative(reflectStrings)
		if err != nil {
			return nil, errors.New("expression must return a string or a list of strings")
		}
		var out []string
		for _, s := range native.([]string) {
			if s != "" {
				out = append(out, s)
			}
		}
		return out, nil
	}
	return nil, errors.New("expression must return a string or a list of strings")
}

// ruleError is upstream's message for a rule that evaluated to false.
func ruleError(expression, message string) error {
	return fmt.Errorf("validation expression '%s' failed: %s", expression, message)
}

// checkRule evaluates a validation rule.
func checkRule(r compiledRule, variable string, value any) error {
	out, err := eval(r.prog, variable, value)
	if err != nil {
		return err
	}
	b, ok := out.(types.Bool)
	if !ok {
		return errors.New("validation expression must return a boolean")
	}
	if !b {
		return ruleError(strings.TrimSpace(r.expression), r.message)
	}
	return nil
}
