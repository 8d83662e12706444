package admissionregistration

import (
	"sync"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/ext"

	"skiff/internal/apiserver/admission/celpatch"
)

// celVariables are the variables admission expressions may use; their
// shapes are only known at run time.
var celVariables = []string{"object", "oldObject", "request", "params", "namespaceObject", "authorizer", "variables"}

// newCELEnv returns the environment expressions are checked in: the same
// variables and libraries the admission plugins evaluate them with.
func newCELEnv() (*cel.Env, error) {
	patch, err := celpatch.EnvOptions()
	if err != nil {
		return nil, err
	}
	opts := []cel.EnvOption{cel.OptionalTypes(), ext.Strings(), ext.Lists(), ext.Sets(), ext.Math(), ext.Encoders()}
	for _, v := range celVariables {
		opts = append(opts, cel.Variable(v, cel.DynType))
	}
	// Mutations build Object{...} and JSONPatch{...} values.
	return cel.NewEnv(append(opts, patch...)...)
}

// celEnv is built once: building an environment costs far more than
// checking one expression.
var celEnv = sync.OnceValues(newCELEnv)

// compileError returns why expr does not compile, or "".
func compileError(expr string) string {
	env, err := celEnv()
	if err != nil {
		return "compilation failed: " + err.Error()
	}
	if _, iss := env.Compile(expr); iss != nil && iss.Err() != nil {
		return "compilation failed: " + iss.Err().Error()
	}
	return ""
}
