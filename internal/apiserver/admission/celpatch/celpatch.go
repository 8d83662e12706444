// Package celpatch gives CEL the types MutatingAdmissionPolicies build
// their patches with: `Object{...}` and its nested `Object.<field>...{...}`
// for ApplyConfiguration, `JSONPatch{op, path, from, value}` for JSONPatch,
// and the `jsonpatch.escapeKey` function; and it turns what an expression
// returned into plain JSON values.
//
// Upstream types Object from the schema of the matched kind and checks
// field names at compile time. Here every field of an Object type is
// dynamic: an expression that names a field the kind does not have
// compiles, and the merge (with the kind's schema when it has one) drops
// or refuses the field instead.
package celpatch

import (
	"errors"
	"fmt"
	"strings"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"
	"github.com/google/cel-go/common/types/traits"
	"google.golang.org/protobuf/types/known/structpb"
)

// JSONPatchType is the name of the JSONPatch operation type.
const JSONPatchType = "JSONPatch"

// jsonPatchFields are the fields of a JSONPatch operation.
var jsonPatchFields = []string{"op", "path", "from", "value"}

// provider answers for Object and JSONPatch and leaves every other type
// to the standard registry.
type provider struct {
	base *types.Registry
}

var (
	_ types.Provider = provider{}
	_ types.Adapter  = provider{}
)

func isObject(name string) bool { return name == "Object" || strings.HasPrefix(name, "Object.") }

func (p provider) EnumValue(name string) ref.Val { return p.base.EnumValue(name) }

func (p provider) FindIdent(name string) (ref.Val, bool) { return p.base.FindIdent(name) }

func (p provider) FindStructType(name string) (*types.Type, bool) {
	if isObject(name) || name == JSONPatchType {
		return types.NewTypeTypeWithParam(types.NewObjectType(name)), true
	}
	return p.base.FindStructType(name)
}

func (p provider) FindStructFieldNames(name string) ([]string, bool) {
	switch {
	case isObject(name):
		return nil, true
	case name == JSONPatchType:
		return jsonPatchFields, true
	}
	return p.base.FindStructFieldNames(name)
}

func (p provider) FindStructFieldType(name, field string) (*types.FieldType, bool) {
	switch {
	case isObject(name):
		return &types.FieldType{Type: types.DynType}, true
	case name == JSONPatchType:
		for _, f := range jsonPatchFields {
			if f == field {
				t := types.StringType
				if f == "value" {
					t = types.DynType
				}
				return &types.FieldType{Type: t}, true
			}
		}
		return nil, false
	}
	return p.base.FindStructFieldType(name, field)
}

// NewValue builds an Object or JSONPatch value as a map of its fields.
func (p provider) NewValue(name string, fields map[string]ref.Val) ref.Val {
	if !isObject(name) && name != JSONPatchType {
		return p.base.NewValue(name, fields)
	}
	m := make(map[ref.Val]ref.Val, len(fields))
	for k, v := range fields {
		m[types.String(k)] = v
	}
	return types.NewRefValMap(p, m)
}

func (p provider) NativeToValue(v any) ref.Val { return p.base.NativeToValue(v) }

// EnvOptions declares the patch types and functions in an environment.
func EnvOptions() ([]cel.EnvOption, error) {
	reg, err := types.NewRegistry()
	if err != nil {
		return nil, err
	}
	escape := cel.Function("jsonpatch.escapeKey",
		cel.Overload("jsonpatch_escapeKey_string", []*cel.Type{cel.StringType}, cel.StringType,
			cel.UnaryBinding(func(v ref.Val) ref.Val {
				s, ok := v.(types.String)
				if !ok {
					return types.MaybeNoSuchOverloadErr(v)
				}
				return types.String(strings.NewReplacer("~", "~0", "/", "~1").Replace(string(s)))
			})))
	return []cel.EnvOption{cel.CustomTypeProvider(provider{base: reg}), cel.CustomTypeAdapter(provider{base: reg}), escape}, nil
}

// ToJSON turns a CEL value into the JSON value it stands for: maps with
// string keys, slices, strings, int64, float64, bools and nil.
func ToJSON(v ref.Val) (any, error) {
	switch t := v.(type) {
	case types.Null:
		return nil, nil
	case types.Bool:
		return bool(t), nil
	case types.Int:
		return int64(t), nil
	case types.Uint:
		return int64(t), nil
	case types.Double:
		return float64(t), nil
	case types.String:
		return string(t), nil
	case types.Bytes:
		return string(t), nil
	case *types.Err:
		return nil, t
	case traits.Mapper:
		out := map[string]any{}
		it := t.Iterator()
		for it.HasNext() == types.True {
			k := it.Next()
			ks, ok := k.(types.String)
			if !ok {
				return nil, fmt.Errorf("map key %v is not a string", k)
			}
			val, err := ToJSON(t.Get(k))
			if err != nil {
				return nil, err
			}
			out[string(ks)] = val
		}
		return out, nil
	case traits.Lister:
		var out []any
		it := t.Iterator()
		for it.HasNext() == types.True {
			val, err := ToJSON(it.Next())
			if err != nil {
				return nil, err
			}
			out = append(out, val)
		}
		if out == nil {
			out = []any{}
		}
		return out, nil
	}
	// Timestamps, durations and the like: their JSON form.
	native, err := v.ConvertToNative(jsonValueType)
	if err != nil {
		return nil, fmt.Errorf("value of type %v has no JSON form: %w", v.Type(), err)
	}
	return native.(*structpb.Value).AsInterface(), nil
}

// ErrNotPatch is returned for a JSONPatch expression that did not return
// a list of JSONPatch values.
var ErrNotPatch = errors.New("must evaluate to a list of JSONPatch operations")
