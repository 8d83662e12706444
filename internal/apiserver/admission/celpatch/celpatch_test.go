package celpatch

import (
	"testing"

	"github.com/google/cel-go/cel"
	"github.com/google/go-cmp/cmp"
)

func TestExpressions(t *testing.T) {
	opts, err := EnvOptions()
	if err != nil {
		t.Fatal(err)
	}
	env, err := cel.NewEnv(append(opts, cel.Variable("object", cel.DynType))...)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, expr string
		want       any
	}{
		{"apply configuration", `Object{spec: Object.spec{replicas: 1337}}`,
			map[string]any{"spec": map[string]any{"replicas": int64(1337)}}},
		{"annotations from the object", `Object{metadata: Object.metadata{annotations: {"mutated-by": "admission-policy", "name": object.metadata.name}}}`,
			map[string]any{"metadata": map[string]any{"annotations": map[string]any{"mutated-by": "admission-policy", "name": "web"}}}},
		{"json patch", `[JSONPatch{op: "add", path: "/metadata/labels/" + jsonpatch.escapeKey("a/b"), value: "x"}]`,
			[]any{map[string]any{"op": "add", "path": "/metadata/labels/a~1b", "value": "x"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ast, iss := env.Compile(tt.expr)
			if iss.Err() != nil {
				t.Fatalf("compile: %v", iss.Err())
			}
			prg, err := env.Program(ast)
			if err != nil {
				t.Fatal(err)
			}
			v, _, err := prg.Eval(map[string]any{"object": map[string]any{"metadata": map[string]any{"name": "web"}}})
			if err != nil {
				t.Fatalf("eval: %v", err)
			}
			got, err := ToJSON(v)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("value (-want +got):\n%s", diff)
			}
		})
	}
}
