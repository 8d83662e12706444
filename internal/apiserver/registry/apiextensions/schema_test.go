package apiextensions

import (
	"encoding/json"
	"testing"

	"github.com/google/go-cmp/cmp"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// testSchema has a bit of every feature the package handles.
const testSchema = `{"type":"object","properties":{
"spec":{"type":"object","required":["mode"],
  "x-kubernetes-validations":[{"rule":"self.min <= self.max","message":"min must not exceed max"}],
  "properties":{
  "mode":{"type":"string","enum":["a","b"]},
  "min":{"type":"integer","default":0},
  "max":{"type":"integer","default":10,"maximum":100},
  "name":{"type":"string","pattern":"^[a-z]+$","x-kubernetes-validations":[{"rule":"self == oldSelf","message":"name is immutable"}]},
  "port":{"x-kubernetes-int-or-string":true},
  "free":{"type":"object","x-kubernetes-preserve-unknown-fields":true},
  "labels":{"type":"object","additionalProperties":{"type":"string"}},
  "items":{"type":"array","x-kubernetes-list-type":"map","x-kubernetes-list-map-keys":["key"],
    "items":{"type":"object","properties":{"key":{"type":"string"},"weight":{"type":"integer","default":1}}}}}},
"status":{"type":"object","properties":{"ready":{"type":"boolean"}}}}}`

func mustSchema(t *testing.T) *Schema {
	t.Helper()
	var props apiextensionsv1.JSONSchemaProps
	if err := json.Unmarshal([]byte(testSchema), &props); err != nil {
		t.Fatal(err)
	}
	s, err := NewSchema(&props)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func obj(t *testing.T, s string) map[string]interface{} {
	t.Helper()
	var m map[string]interface{}
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		t.Fatal(err)
	}
	return normalize(m).(map[string]interface{})
}

// normalize turns whole float64s into int64, as apimachinery's JSON
// decoding of unstructured objects does.
func normalize(v interface{}) interface{} {
	switch x := v.(type) {
	case map[string]interface{}:
		for k, e := range x {
			x[k] = normalize(e)
		}
	case []interface{}:
		for i, e := range x {
			x[i] = normalize(e)
		}
	case float64:
		if x == float64(int64(x)) {
			return int64(x)
		}
	}
	return v
}

func TestPruneAndDefault(t *testing.T) {
	s := mustSchema(t)
	tests := []struct {
		name, in, want string
	}{
		{name: "unknown fields go, metadata stays",
			in:   `{"apiVersion":"x/v1","kind":"K","metadata":{"name":"n","odd":1},"spec":{"mode":"a","bogus":1},"extra":true}`,
			want: `{"apiVersion":"x/v1","kind":"K","metadata":{"name":"n","odd":1},"spec":{"mode":"a","min":0,"max":10}}`},
		{name: "preserved and additionalProperties",
			in:   `{"spec":{"mode":"a","free":{"x":{"y":1}},"labels":{"a":"b"}}}`,
			want: `{"spec":{"mode":"a","min":0,"max":10,"free":{"x":{"y":1}},"labels":{"a":"b"}}}`},
		{name: "defaults in list items, set values kept",
			in:   `{"spec":{"mode":"b","max":5,"items":[{"key":"k","junk":1},{"key":"l","weight":3}]}}`,
			want: `{"spec":{"mode":"b","min":0,"max":5,"items":[{"key":"k","weight":1},{"key":"l","weight":3}]}}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := obj(t, tt.in)
			s.Prune(got)
			s.Default(got)
			if diff := cmp.Diff(obj(t, tt.want), got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func errorStrings(errs field.ErrorList) []string {
	var out []string
	for _, e := range errs {
		out = append(out, e.Field+": "+string(e.Type))
	}
	return out
}

func TestValidate(t *testing.T) {
	s := mustSchema(t)
	tests := []struct {
		name, in string
		want     []string
	}{
		{name: "valid", in: `{"spec":{"mode":"a","min":1,"max":2,"port":"http","items":[{"key":"a"},{"key":"b"}]}}`},
		{name: "required", in: `{"spec":{}}`, want: []string{"spec.mode: FieldValueRequired"}},
		{name: "enum, pattern, maximum",
			in:   `{"spec":{"mode":"c","name":"X","max":101,"min":0}}`,
			want: []string{"spec.mode: FieldValueNotSupported", "spec.name: FieldValueInvalid", "spec.max: FieldValueInvalid"}},
		{name: "int-or-string", in: `{"spec":{"mode":"a","port":1.5}}`, want: []string{"spec.port: FieldValueInvalid"}},
		{name: "list-map keys", in: `{"spec":{"mode":"a","items":[{"key":"a"},{"key":"a"}]}}`, want: []string{"spec.items[1]: FieldValueDuplicate"}},
		{name: "cel rule", in: `{"spec":{"mode":"a","min":5,"max":1}}`, want: []string{"spec: FieldValueInvalid"}},
		{name: "wrong type", in: `{"status":{"ready":"yes"},"spec":{"mode":"a"}}`, want: []string{"status.ready: FieldValueInvalid"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := errorStrings(s.Validate(obj(t, tt.in)))
			if diff := cmp.Diff(tt.want, got, sortStrings); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

var sortStrings = cmp.Transformer("sort", func(in []string) []string {
	out := append([]string(nil), in...)
	for i := range out {
		for j := i + 1; j < len(out); j++ {
			if out[j] < out[i] {
				out[i], out[j] = out[j], out[i]
			}
		}
	}
	return out
})

func TestValidateTransitions(t *testing.T) {
	s := mustSchema(t)
	tests := []struct {
		name, obj, old string
		want           []string
	}{
		{name: "unchanged", obj: `{"spec":{"mode":"a","name":"x"}}`, old: `{"spec":{"mode":"a","name":"x"}}`},
		{name: "changed", obj: `{"spec":{"mode":"a","name":"y"}}`, old: `{"spec":{"mode":"a","name":"x"}}`, want: []string{"spec.name: FieldValueInvalid"}},
		{name: "newly set", obj: `{"spec":{"mode":"a","name":"y"}}`, old: `{"spec":{"mode":"a"}}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := errorStrings(s.ValidateTransitions(obj(t, tt.obj), obj(t, tt.old)))
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestValidateCRD(t *testing.T) {
	good := func() *apiextensionsv1.CustomResourceDefinition {
		crd := &apiextensionsv1.CustomResourceDefinition{}
		crd.Name = "things.example.com"
		crd.Spec = apiextensionsv1.CustomResourceDefinitionSpec{
			Group: "example.com", Scope: apiextensionsv1.NamespaceScoped,
			Names: apiextensionsv1.CustomResourceDefinitionNames{Plural: "things", Kind: "Thing"},
			Versions: []apiextensionsv1.CustomResourceDefinitionVersion{{Name: "v1", Served: true, Storage: true,
				Schema: &apiextensionsv1.CustomResourceValidation{OpenAPIV3Schema: &apiextensionsv1.JSONSchemaProps{Type: "object"}}}},
		}
		apiextensionsv1.SetObjectDefaults_CustomResourceDefinition(crd)
		return crd
	}
	tests := []struct {
		name   string
		change func(*apiextensionsv1.CustomResourceDefinition)
		want   []string
	}{
		{name: "valid", change: func(*apiextensionsv1.CustomResourceDefinition) {}},
		{name: "name mismatch", change: func(c *apiextensionsv1.CustomResourceDefinition) { c.Name = "x.example.com" },
			want: []string{"metadata.name: FieldValueInvalid"}},
		{name: "group without dot", change: func(c *apiextensionsv1.CustomResourceDefinition) { c.Spec.Group = "example"; c.Name = "things.example" },
			want: []string{"spec.group: FieldValueInvalid"}},
		{name: "no storage version", change: func(c *apiextensionsv1.CustomResourceDefinition) { c.Spec.Versions[0].Storage = false },
			want: []string{"spec.versions: FieldValueInvalid"}},
		{name: "no schema", change: func(c *apiextensionsv1.CustomResourceDefinition) { c.Spec.Versions[0].Schema = nil },
			want: []string{"spec.versions[0].schema.openAPIV3Schema: FieldValueRequired"}},
		{name: "bad cel", change: func(c *apiextensionsv1.CustomResourceDefinition) {
			c.Spec.Versions[0].Schema.OpenAPIV3Schema.XValidations = apiextensionsv1.ValidationRules{{Rule: "self.+"}}
		}, want: []string{"spec.versions[0].schema.openAPIV3Schema.x-kubernetes-validations[0].rule: FieldValueInvalid"}},
		{name: "bad scope", change: func(c *apiextensionsv1.CustomResourceDefinition) { c.Spec.Scope = "Everywhere" },
			want: []string{"spec.scope: FieldValueNotSupported"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			crd := good()
			tt.change(crd)
			got := errorStrings(ValidateCRD(crd))
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestUnknownFields(t *testing.T) {
	s := mustSchema(t)
	tests := []struct {
		name, in string
		want     []string
	}{
		{name: "none", in: `{"metadata":{"x":1},"spec":{"mode":"a","free":{"y":1}}}`},
		{name: "nested and in lists",
			in:   `{"top":1,"spec":{"mode":"a","odd":true,"items":[{"key":"a","weird":1}]}}`,
			want: []string{"spec.items[0].weird", "spec.odd", "top"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := obj(t, tt.in)
			got := s.UnknownFields(in)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(obj(t, tt.in), in); diff != "" {
				t.Errorf("UnknownFields changed its input (-want +got):\n%s", diff)
			}
		})
	}
}
